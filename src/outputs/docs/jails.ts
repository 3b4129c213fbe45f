import dedent from 'ts-dedent';
import { DEFAULT_SECTION, JailLocalSection, defaultsOf, isJailEnabled, jailsOf } from '../../read/jail-local';
import { NO_LOG_FILE } from '../../model/pod-log';
import { code, table } from './markdown';

// What an operator needs to know about the settings the typed config can set.
const NOTES: Record<string, string> = {
  ignoreip: 'never banned',
  banaction: "how a ban is applied (fail2ban's `action.d`)",
  backend: 'how logs are read; synth refuses `systemd` (the image has no systemd module)',
  port: 'ports a ban blocks',
  findtime: 'window for counting failures',
  bantime: 'how long an address stays banned (`-1`: permanent)',
  maxretry: 'failures within `findtime` that trigger a ban',
  'bantime.increment': 'repeat offenders get longer bans',
  'bantime.factor': 'each further ban lasts `bantime` × factor × 2^(earlier bans)',
  'bantime.maxtime': 'the longest a ban grows to',
  'bantime.overalljails': "earlier bans count from every jail, not only this one's",
};

// How hard a jail bans: shown in every jail's table, inherited values marked.
const THRESHOLDS = ['findtime', 'bantime', 'maxretry'];

function value(text: string): string {
  return text
    .split('\n')
    .map((line) => code(line))
    .join('\n');
}

function defaultsTable(defaults: JailLocalSection | undefined): string {
  const rows = [...(defaults?.settings ?? [])].map(([key, text]) => [key, value(text), NOTES[key] ?? '']);
  return rows.length === 0 ? "None: fail2ban's own defaults apply." : table(['Setting', 'Value', 'Notes'], rows);
}

function filterCell(jail: JailLocalSection, filters: string[]): string {
  const name = jail.settings.get('filter');
  if (name === undefined) {
    return `${code(jail.name)} (fail2ban's stock filter, named like the jail)`;
  }
  const file = `${name}.conf`;
  return filters.includes(file) ? `${code(name)} (${code(`filters/${file}`)}, shipped in the ConfigMap)` : `${code(name)} (fail2ban's stock filter)`;
}

function inheritedRows(jail: JailLocalSection, defaults: JailLocalSection | undefined): string[][] {
  return THRESHOLDS.flatMap((key) => {
    const inherited = jail.settings.has(key) ? undefined : defaults?.settings.get(key);
    return inherited === undefined ? [] : [[key, `${value(inherited)} (from [${DEFAULT_SECTION}])`]];
  });
}

/** A setting's value as the table shows it: a pod-log jail's logpath says where its files come from. */
function settingCell(key: string, text: string): string {
  return key === 'logpath' && text === NO_LOG_FILE
    ? `${value(text)}, and the container logs of the jail's pods on the node, added by the node agent as pods come and go (\`fail2ban-client get JAIL logpath\`)`
    : value(text);
}

function jailRows(jail: JailLocalSection, jailLocal: JailLocalSection[], filters: string[]): string[][] {
  const own = [...jail.settings].filter(([key]) => key !== 'enabled' && key !== 'filter').map(([key, text]) => [key, settingCell(key, text)]);
  const enabled = isJailEnabled(jail, jailLocal) ? 'yes' : '**no**: turn it on in `src/main.ts`';
  return [['enabled', enabled], ['filter', filterCell(jail, filters)], ...own, ...inheritedRows(jail, defaultsOf(jailLocal))];
}

function jailSection(jail: JailLocalSection, jailLocal: JailLocalSection[], filters: string[]): string {
  return dedent`
    ### ${jail.name}${isJailEnabled(jail, jailLocal) ? '' : ' (disabled)'}

    ${table(['Setting', 'Value'], jailRows(jail, jailLocal, filters))}
  `;
}

/** The Jails section: `[DEFAULT]`, then one table per jail in `jail.local` order. */
export function jailsSection(jailLocal: JailLocalSection[], filters: string[]): string {
  return dedent`
    ## Jails

    ### Default settings (every jail unless it sets its own)

    ${defaultsTable(defaultsOf(jailLocal))}

    ${jailsOf(jailLocal).map((jail) => jailSection(jail, jailLocal, filters)).join('\n\n')}
  `;
}
