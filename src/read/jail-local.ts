import { IniSection } from '../model/ini';

/** One section of `jail.local`: `[DEFAULT]` or a jail. */
export type JailLocalSection = IniSection;

/** The name of the section every jail inherits from. */
export const DEFAULT_SECTION = 'DEFAULT';

/** A setting's value on one line: the lines of a multi-line value separated by spaces, as in `ignoreip`. */
export function settingOnOneLine(value: string): string {
  return value.split('\n').join(' ');
}

/** Whether fail2ban runs a jail: its own `enabled`, else `[DEFAULT]`'s, else false (fail2ban's `jail.conf`). */
export function isJailEnabled(jail: JailLocalSection, sections: JailLocalSection[]): boolean {
  const value = jail.settings.get('enabled') ?? defaultsOf(sections)?.settings.get('enabled') ?? 'false';
  return /^(true|yes|on|1)$/i.test(value);
}

/** The `[DEFAULT]` section, if there is one. */
export function defaultsOf(sections: JailLocalSection[]): JailLocalSection | undefined {
  return sections.find((section) => section.name === DEFAULT_SECTION);
}

/** The jails of `jail.local`, without `[DEFAULT]`. */
export function jailsOf(sections: JailLocalSection[]): JailLocalSection[] {
  return sections.filter((section) => section.name !== DEFAULT_SECTION);
}
