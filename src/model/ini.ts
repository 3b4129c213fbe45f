/** One section of an INI file (`jail.local`, a filter): `[DEFAULT]`, a jail, `[Definition]`… */
export interface IniSection {
  readonly name: string;
  /** Setting → value, in file order; the lines of a multi-line value (several log paths) joined by `\n`. */
  readonly settings: ReadonlyMap<string, string>;
}

/**
 * Reads fail2ban's INI files as its reader does: `[name]` opens a section, `key = value` sets a value, an indented
 * line continues the previous value, `#` and `;` lines are comments.
 */
export function parseIni(text: string): IniSection[] {
  const sections: Array<{ name: string; settings: Map<string, string> }> = [];
  let lastKey: string | undefined;
  for (const line of text.split('\n')) {
    const section = sections[sections.length - 1];
    const header = /^\[([^\]]+)\]\s*$/.exec(line);
    const entry = /^([^\s#;=][^=]*?)\s*=\s*(.*?)\s*$/.exec(line);
    if (header) {
      sections.push({ name: header[1], settings: new Map() });
      lastKey = undefined;
    } else if (/^\s+[^\s#;]/.test(line) && section && lastKey !== undefined) {
      section.settings.set(lastKey, `${section.settings.get(lastKey)}\n${line.trim()}`);
    } else if (entry && section) {
      lastKey = entry[1];
      section.settings.set(lastKey, entry[2]);
    }
  }
  return sections;
}

