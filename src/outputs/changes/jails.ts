import { DEFAULT_SECTION, JailLocalSection, settingOnOneLine } from '../../read/jail-local';

// An unset setting falls back to [DEFAULT] in a jail, and to fail2ban's own value in [DEFAULT].
const UNSET = '(default)';

function sectionLabel(name: string): string {
  return name === DEFAULT_SECTION ? `[${DEFAULT_SECTION}]` : `jail ${name}`;
}

/** `enabled, logpath /var/log/host/auth.log, maxretry 3`: a new section's settings, on one line. */
function describeSettings(settings: ReadonlyMap<string, string>): string {
  return [...settings]
    .map(([key, value]) => (key === 'enabled' ? (value === 'true' ? 'enabled' : 'disabled') : `${key} ${settingOnOneLine(value)}`))
    .join(', ');
}

/** `maxretry 3 → 4, port (default) → 22`: the settings that differ, in the new file's order, then the dropped ones. */
function describeChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string {
  const keys = [...new Set([...after.keys(), ...before.keys()])];
  return keys
    .filter((key) => before.get(key) !== after.get(key))
    .map((key) => {
      const [old, next] = [before.get(key), after.get(key)].map((value) => (value === undefined ? UNSET : settingOnOneLine(value)));
      return `${key} ${old} → ${next}`;
    })
    .join(', ');
}

function sectionLine(name: string, before: JailLocalSection | undefined, after: JailLocalSection | undefined): string[] {
  if (before === undefined) {
    return [`${sectionLabel(name)}: added (${describeSettings(after!.settings)})`];
  }
  if (after === undefined) {
    return [`${sectionLabel(name)}: removed`];
  }
  const changes = describeChanges(before.settings, after.settings);
  return changes === '' ? [] : [`${sectionLabel(name)}: ${changes}`];
}

/** One line per `jail.local` section that differs: in the new file's order, then the sections it dropped. */
export function jailLines(before: JailLocalSection[], after: JailLocalSection[]): string[] {
  const names = [...new Set([...after, ...before].map((section) => section.name))];
  const find = (sections: JailLocalSection[], name: string) => sections.find((section) => section.name === name);
  return names.flatMap((name) => sectionLine(name, find(before, name), find(after, name)));
}
