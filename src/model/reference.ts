/**
 * A filter or action as a jail names it: `name` or `name[key=value, key="a value"]`, the way fail2ban reads it
 * (`client/jailreader.py` extractOptions). Parsed strictly, so that nothing after it can add a line or a section to
 * `jail.local`.
 */
export interface Reference {
  readonly name: string;
  readonly options: ReadonlyArray<readonly [key: string, value: string]>;
}

const NAME = '[A-Za-z0-9][A-Za-z0-9_.-]*';
const KEY = '[A-Za-z_][A-Za-z0-9_-]*';
// A value is quoted (anything but its quote and control characters) or bare (no separator, bracket, quote or space).
const VALUE = `"[^"\\u0000-\\u001f\\u007f]*"|'[^'\\u0000-\\u001f\\u007f]*'|[^\\s,"'\\[\\]\\u0000-\\u001f\\u007f]*`;
const OPTION = new RegExp(`^(${KEY})=(${VALUE})$`);
const REFERENCE = new RegExp(`^(${NAME})(?:\\[((?:${KEY}=(?:${VALUE}))(?:, *(?:${KEY}=(?:${VALUE})))*)?\\])?$`);

/** The reference, or `undefined` when the text is not exactly one. */
export function parseReference(text: string): Reference | undefined {
  const match = REFERENCE.exec(text);
  if (!match) {
    return undefined;
  }
  const options: Array<[string, string]> = [];
  // Split at the commas between options: outside quotes, since a quoted value may hold commas.
  for (const option of match[2]?.match(new RegExp(`${KEY}=(?:${VALUE})`, 'g')) ?? []) {
    const [, key, value] = OPTION.exec(option)!;
    options.push([key, /^["']/.test(value) ? value.slice(1, -1) : value]);
  }
  return { name: match[1], options };
}
