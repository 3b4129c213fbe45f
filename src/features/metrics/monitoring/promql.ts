/**
 * The few PromQL pieces the alerts and the dashboard are written with: quoting, and finding the series an expression
 * reads (for the tests' check against the catalog).
 */

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

/** Words of PromQL that are not series names when they stand without a `(` after them. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/**
 * The series names an expression reads (in order, without repeats). A scan, not a parser: it drops string literals,
 * matchers' braces, ranges and label lists (`by (…)`, `on (…)`), then every identifier that is not a function call,
 * a keyword or part of a number or duration is a series name. Enough for the package's own expressions, which the
 * tests also parse with promtool.
 */
export function seriesNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w.$])[A-Za-z_:][\w:]*(?!\s*\()/g)) {
    // `(?!\s*\()` also stops a backtrack into a shorter name: require a full identifier.
    const end = (match.index ?? 0) + match[0].length;
    if (/[\w:]/.test(stripped[end] ?? '')) continue;
    if (!KEYWORDS.has(match[0].toLowerCase()) && !names.includes(match[0])) names.push(match[0]);
  }
  return names;
}

/** Label names in the matchers of each series an expression selects with braces: `f2b_up{node="a"}` → f2b_up: [node]. */
export function matcherLabels(expr: string): Array<{ series: string; labels: string[] }> {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  return [...withoutStrings.matchAll(/([A-Za-z_:][\w:]*)\s*\{([^}]*)\}/g)].map((match) => ({
    series: match[1],
    labels: [...match[2].matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((label) => label[1]),
  }));
}
