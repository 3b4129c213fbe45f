/** The few PromQL pieces the alerts and the dashboard are written with. */

/** A PromQL string literal: double quotes, with `\` and `"` escaped. */
export function promString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A regular expression (RE2) that matches exactly one of `values`, each taken literally. */
export function exactAlternatives(values: readonly string[]): string {
  return values.map((value) => value.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')).join('|');
}

/** A series selector's braces from label matchers (`job="x"`), or '' without any. */
export function matchers(...parts: Array<string | undefined>): string {
  const present = parts.filter((part): part is string => part !== undefined && part !== '');
  return present.length === 0 ? '' : `{${present.join(', ')}}`;
}
