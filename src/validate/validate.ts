import { BanTime, TimeSpan, banTimeSeconds, timeSpanSeconds } from '../model/duration';
import { FilterFile, filterFileName } from '../model/filter';
import { isPinned } from '../model/image';
import { ipFamily } from '../model/ip';
import { checkFilterFile } from './filter-check';
import { HostPathMount } from '../k8s/daemon-set';
import { PLACEHOLDER_REPOSITORY } from '../model/github-actions';
import { isJailName, JailProps, JailSettings, logPathsOf, RESERVED_SECTIONS } from '../model/jail';
import { neverBannable } from '../model/never-ban';
import { parseReference } from '../model/reference';
import { ResolvedFail2ban } from '../resolve/resolve';
import { CONTAINER_LOG_DIR } from '../model/log-path';
import { STOCK_ACTIONS, STOCK_FILTERS } from './stock';
import { BATCH_ACTION, NFTABLES_ACTIONS } from '../model/nftables-action';
import { didYouMean } from '../model/suggest';

const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;
const FILE_BACKENDS = ['auto', 'pyinotify', 'polling'];
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const PORT_NAME = /^[a-z][a-z0-9-]*$/i;

/** The name of a `name[key=value]` reference, as far as it reads as one (problems with it are reported apart). */
function baseName(reference: string): string {
  return parseReference(reference)?.name ?? reference.split('[')[0];
}

/** A `filter` or `banaction` that is not exactly one `name[key=value, …]`: what follows could add to jail.local. */
function checkReference(where: string, key: string, reference: string): string[] {
  return parseReference(reference)
    ? []
    : [`${where}: ${key} "${reference}" is not one name with options in fail2ban's form. Fix: write name or name[key=value, key="value with spaces"], with no newline, bracket or quote inside a value.`];
}

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Where a value sits in the props, in the words of the messages: `jail "sshd": banAction`, `[DEFAULT]: port`. */
function describePlace(path: ReadonlyArray<string | number>, config: ResolvedFail2ban): string {
  const [first, second, ...rest] = path;
  const tail = (parts: ReadonlyArray<string | number>) => parts.map((part) => (typeof part === 'number' ? `[${part}]` : `.${part}`)).join('').replace(/^\./, '');
  if (first === 'jails' && typeof second === 'number') return `jail "${config.jails[second]?.name}": ${tail(rest)}`;
  if (first === 'defaults') return `[DEFAULT]: ${tail([second, ...rest].filter((part) => part !== undefined))}`;
  return tail(path);
}

/**
 * Every string of the configuration that reaches a rendered file, checked for control characters: a newline in any
 * of them would start a line (or a section) of jail.local or a manifest of its own. Filter files are checked apart.
 */
function checkControlCharacters(config: ResolvedFail2ban): string[] {
  const problems: string[] = [];
  const visit = (value: unknown, path: Array<string | number>): void => {
    if (typeof value === 'string') {
      if (CONTROL.test(value)) {
        problems.push(`${describePlace(path, config)} ${JSON.stringify(value)} holds a control character (a newline, a tab, …); it would reach a rendered file as it is. Fix: remove it.`);
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => visit(item, [...path, index]));
    } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
    }
  };
  const { filters: _files, features: _features, ...settings } = config;
  visit(settings, []);
  return problems;
}

function checkTimeSpan(where: string, key: string, span: TimeSpan): string[] {
  if (typeof span === 'string' && span !== span.trim()) {
    return [`${where}: ${key} "${span}" has spaces around it. Fix: write it without them, e.g. '10m'.`];
  }
  const seconds = timeSpanSeconds(span);
  if (seconds === undefined) {
    return [`${where}: ${key} "${span}" is not a duration fail2ban 1.0.2 reads. Fix: use a cdk8s Duration (Duration.minutes(10)) or fail2ban's syntax: '600', '10m', '1h', '1d', '1w', '10 minutes', '1 day'.`];
  }
  if (seconds <= 0) {
    return [`${where}: ${key} "${typeof span === 'string' ? span : `${seconds}s`}" must be longer than zero. Fix: give a positive duration${key === 'bantime' ? ", or 'permanent' for a ban that never ends" : ''}.`];
  }
  return [];
}

function checkBanTime(where: string, banTime: BanTime): string[] {
  return banTime === 'permanent' ? [] : checkTimeSpan(where, 'bantime', banTime);
}

function checkIgnoreIp(where: string, entries: readonly string[], allowHostnames: boolean): string[] {
  return entries.flatMap((entry) => {
    const [address, prefix, ...rest] = entry.split('/');
    const family = ipFamily(address);
    const maxPrefix = family === 6 ? 128 : 32;
    if (family === 6 && neverBannable(address)?.what === 'IPv4-mapped') {
      return [`${where}: ignoreip "${entry}" is an IPv4-mapped IPv6 range: fail2ban and nftables hold the IPv4 address, so it would protect nothing. Fix: write the IPv4 address or range, e.g. 203.0.113.0/24 for ::ffff:203.0.113.0/120.`];
    }
    if (family && rest.length === 0 && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix))) {
      return [];
    }
    if (family) {
      return [`${where}: ignoreip "${entry}" has an invalid prefix length. Fix: write ADDRESS/N with N from 0 to ${maxPrefix}.`];
    }
    if (prefix === undefined && HOSTNAME.test(entry) && allowHostnames) {
      return [];
    }
    if (prefix === undefined && HOSTNAME.test(entry)) {
      return [`${where}: ignoreip "${entry}" is a host name; fail2ban would resolve it through DNS at every ban. Fix: write its IP address or CIDR range, or set allowHostnamesInIgnoreIp: true on purpose.`];
    }
    return [`${where}: ignoreip "${entry}" is neither an IPv4/IPv6 address nor a CIDR range. Fix: write e.g. 192.0.2.10, 198.51.100.0/24 or 2001:db8::/32.`];
  });
}

function checkPort(where: string, port: string): string[] {
  const inRange = (text: string) => /^\d+$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;
  // Checked as written: what passes is what jail.local gets.
  const bad = port.split(',').filter((item) => {
    const range = /^(\d+):(\d+)$/.exec(item);
    if (range) {
      return !(inRange(range[1]) && inRange(range[2]) && Number(range[1]) <= Number(range[2]));
    }
    return !(inRange(item) || PORT_NAME.test(item));
  });
  return bad.length === 0
    ? []
    : [`${where}: port "${port}" has invalid entries (${bad.map((b) => `"${b}"`).join(', ')}). Fix: use port numbers 1-65535, ranges FROM:TO, or service names (ssh, https), separated by commas without spaces; leave port unset for all ports.`];
}

function checkLogPath(where: string, jail: JailProps, mounts: readonly HostPathMount[]): string[] {
  const readable = [CONTAINER_LOG_DIR, ...mounts.map((mount) => mount.containerPath.replace(/\/+$/, ''))];
  const paths = logPathsOf(jail);
  if (jail.podLogs !== undefined) {
    return jail.logPath === undefined ? [] : [`${where}: has both logPath and podLogs. Fix: keep one: podLogs for a container's pod logs, logPath for host log files.`];
  }
  if (paths.length === 0) {
    return [`${where}: logpath is empty. Fix: name at least one log file, e.g. hostLog('auth.log'), or the pods' logs with podLogs.`];
  }
  return paths.flatMap((file) => {
    if (/\s/.test(file) || file.split('/').includes('..') || file.split('/').includes('.')) {
      return [`${where}: logpath "${file}" has a space or a '.' or '..' segment: fail2ban reads what follows a space as an option, and '..' would leave the host log mount (and, with logMayBeMissing, create a file elsewhere on the host). Fix: give the file's plain path, e.g. hostLog('auth.log').`];
    }
    if (file.endsWith('/') || file === CONTAINER_LOG_DIR || /(^|\/)journal(\/|$)/.test(file)) {
      return [`${where}: logpath "${file}" is a directory; fail2ban would stop with IsADirectoryError. Fix: name a log file (k3s logs through rsyslog to hostLog('syslog')); the binary journal cannot be read by this image.`];
    }
    if (!readable.some((dir) => file.startsWith(`${dir}/`))) {
      return [`${where}: logpath "${file}" is outside the host log mount ${CONTAINER_LOG_DIR}${mounts.length > 0 ? ' and the hostPathMounts' : ''}; fail2ban would find no file and the whole server would exit. Fix: use hostLog('${file.split('/').pop()}') for the host's /var/log/${file.split('/').pop()}, or mount its directory with hostPathMounts.`];
    }
    return [];
  });
}

function checkSettings(where: string, settings: JailSettings, config: ResolvedFail2ban): string[] {
  const problems: string[] = [];
  if (settings.backend !== undefined && !FILE_BACKENDS.includes(settings.backend)) {
    const journal = /systemd|journal/i.test(settings.backend);
    problems.push(
      journal
        ? `${where}: backend "${settings.backend}" cannot work: the crazymax/fail2ban image is Alpine-based and has no python systemd module. Fix: backend 'auto' (or 'pyinotify', 'polling') with a log file, e.g. hostLog('syslog').`
        : `${where}: backend "${settings.backend}" is unknown. Fix: use one of ${FILE_BACKENDS.map((b) => `'${b}'`).join(', ')}.`,
    );
  }
  if (settings.maxRetry !== undefined && !(Number.isInteger(settings.maxRetry) && settings.maxRetry >= 1)) {
    problems.push(`${where}: maxretry ${settings.maxRetry} is not a whole number of at least 1 (fail2ban accepts 0 and then bans on the first log line). Fix: set maxRetry to 1 or more.`);
  }
  if (settings.findTime !== undefined) {
    problems.push(...checkTimeSpan(where, 'findtime', settings.findTime));
  }
  if (settings.banTime !== undefined) {
    problems.push(...checkBanTime(where, settings.banTime));
  }
  if (settings.ignoreIp !== undefined) {
    problems.push(...checkIgnoreIp(where, settings.ignoreIp, config.allowHostnamesInIgnoreIp));
  }
  if (settings.port !== undefined) {
    problems.push(...checkPort(where, settings.port));
  }
  if (settings.protocol !== undefined && !/^(tcp|udp|sctp|udplite)(,(tcp|udp|sctp|udplite))*$/.test(settings.protocol)) {
    problems.push(`${where}: protocol "${settings.protocol}" is not a comma-separated list of tcp, udp, sctp, udplite. Fix: e.g. 'tcp' or 'tcp,udp'.`);
  }
  const increment = settings.banTimeIncrement;
  if (increment?.factor !== undefined && !(increment.factor > 0)) {
    problems.push(`${where}: bantime.factor ${increment.factor} must be greater than 0. Fix: use e.g. 1 or 2.`);
  }
  if (increment?.maxTime !== undefined) {
    problems.push(...checkTimeSpan(where, 'bantime.maxtime', increment.maxTime));
  }
  if (settings.banAction !== undefined) {
    problems.push(...checkReference(where, 'banaction', settings.banAction));
  }
  const actions = [...STOCK_ACTIONS, BATCH_ACTION];
  if (settings.banAction !== undefined && !actions.includes(baseName(settings.banAction))) {
    problems.push(`${where}: banaction "${settings.banAction}" is not an action the image ships (fail2ban 1.0.2's action.d) nor the package's '${BATCH_ACTION}'.${didYouMean(baseName(settings.banAction), actions)} Fix: name one of them, e.g. '${BATCH_ACTION}'.`);
  }
  if (settings.banAction !== undefined && baseName(settings.banAction) === BATCH_ACTION && settings.banAction !== BATCH_ACTION) {
    problems.push(`${where}: banaction "${settings.banAction}": the package's '${BATCH_ACTION}' takes no options here (jail.conf passes port, protocol and chain to it). Fix: write '${BATCH_ACTION}'.`);
  }
  return problems;
}

function checkJail(jail: JailProps, config: ResolvedFail2ban): string[] {
  const where = `jail "${jail.name}"`;
  const problems = checkSettings(where, jail, config);
  if (!isJailName(jail.name)) {
    problems.push(`${where}: the name is not usable as a fail2ban jail (a jail.local section and nftables set name). Fix: use 1-32 letters, digits, '-' or '_', starting with a letter or digit, and not ${RESERVED_SECTIONS.join('/')}.`);
  }
  problems.push(...checkLogPath(where, jail, config.hostPathMounts));
  const globs = logPathsOf(jail).filter((file) => /[*?[]/.test(file));
  if (jail.logMayBeMissing && globs.length > 0) {
    problems.push(`${where}: logMayBeMissing needs plain file paths, but logpath "${globs[0]}" is a pattern. Fix: name each file, or drop logMayBeMissing.`);
  }
  const banAction = baseName(jail.banAction ?? config.defaults.banAction ?? '');
  if (jail.blocks === 'host-and-forwarded' && !NFTABLES_ACTIONS.includes(banAction)) {
    problems.push(`${where}: blocks 'host-and-forwarded' moves an nftables action to the prerouting hook, but the banaction is "${banAction || "fail2ban's default (iptables-multiport)"}". Fix: set banAction to one of ${NFTABLES_ACTIONS.map((a) => `'${a}'`).join(', ')}, or blocks 'host'.`);
  }
  if (jail.filter !== undefined) {
    problems.push(...checkReference(where, 'filter', jail.filter));
  }
  const filter = baseName(jail.filter ?? jail.name);
  const ours = config.filters.map((f) => f.name);
  if (!ours.includes(filter) && !STOCK_FILTERS.includes(filter)) {
    problems.push(`${where}: filter "${filter}" is neither in filters/ nor a stock filter of fail2ban 1.0.2 (fail2ban would skip the jail).${didYouMean(filter, [...ours, ...STOCK_FILTERS])} Fix: add filters/${filter}.conf or name an existing filter.`);
  }
  return problems;
}

function checkFilterKeys(filters: readonly FilterFile[]): string[] {
  return filters
    .filter((filter) => !CONFIG_MAP_KEY.test(filterFileName(filter)))
    .map((filter) => {
      const base = filter.name.split('/').pop()!.replace(/[^-._a-zA-Z0-9]/g, '-');
      return `filter "${filter.name}": ConfigMap key "${filterFileName(filter)}" is invalid: keys may contain only letters, digits, '-', '_' and '.', never '/' or spaces. Fix: name the file filters/${base}.conf; the mount path /data/filter.d/${base}.conf is built from the key.`;
    });
}

function checkHostPathMount(mount: HostPathMount): string[] {
  const where = `hostPathMounts "${mount.containerPath}"`;
  const unsafe = (value: string) => !value.startsWith('/') || value.split('/').includes('..') || /[\u0000-\u001f\u007f\s]/.test(value);
  return [
    ...(unsafe(mount.hostPath) ? [`${where}: hostPath "${mount.hostPath}" is not an absolute path without '..', spaces or control characters. Fix: give the node's path, e.g. '/var/log/nginx'.`] : []),
    ...(unsafe(mount.containerPath) ? [`${where}: containerPath is not an absolute path without '..', spaces or control characters. Fix: e.g. '/var/log/nginx-host'.`] : []),
    ...(mount.containerPath === CONTAINER_LOG_DIR || mount.containerPath.startsWith('/data/') || mount.containerPath === '/data'
      ? [`${where}: containerPath is where the host logs or the image's configuration are mounted. Fix: choose another path, e.g. under /mnt.`]
      : []),
  ];
}

function duplicates(names: readonly string[]): string[] {
  return [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
}

function checkImage(image: string, allowUnpinned: boolean): string[] {
  if (allowUnpinned || isPinned(image)) {
    return [];
  }
  return [`image "${image}" is not pinned to a version, so every node may run a different fail2ban after a pull. Fix: pin a tag (e.g. crazymax/fail2ban:1.0.2) or a digest, or set allowUnpinnedImage: true on purpose.`];
}

function checkTimeZone(timeZone: string): string[] {
  // The list holds canonical names only; constructing a formatter accepts aliases (UTC, Europe/Kyiv) but costs
  // ~15 ms of ICU start-up, so it only runs for names not in the list.
  if (timeZone === 'UTC' || Intl.supportedValuesOf('timeZone').includes(timeZone)) {
    return [];
  }
  let resolved: string | undefined;
  try {
    resolved = new Intl.DateTimeFormat('en', { timeZone }).resolvedOptions().timeZone;
  } catch {
    resolved = undefined;
  }
  if (resolved !== undefined && /^[A-Za-z0-9_+\-/]+$/.test(timeZone) && resolved.toLowerCase() !== timeZone.toLowerCase()) {
    return [];
  }
  const hint = resolved ? ` Did you mean "${resolved}"?` : '';
  return [`timeZone "${timeZone}" is not an IANA time zone name.${hint} Fix: use the hosts' zone as in /etc/timezone, e.g. 'Europe/Berlin' or 'UTC'.`];
}

function checkPurgeAge(config: ResolvedFail2ban): string[] {
  const problems = checkTimeSpan('dbPurgeAge (F2B_DB_PURGE_AGE)', 'value', config.dbPurgeAge);
  const purge = timeSpanSeconds(config.dbPurgeAge);
  const longest = [config.defaults, ...config.jails]
    .map((s) => (s.banTime === undefined ? 0 : banTimeSeconds(s.banTime) ?? 0))
    .filter(Number.isFinite)
    .reduce((a, b) => Math.max(a, b), 0);
  if (problems.length === 0 && purge !== undefined && purge < longest) {
    problems.push(`dbPurgeAge (F2B_DB_PURGE_AGE) "${typeof config.dbPurgeAge === 'string' ? config.dbPurgeAge : `${purge}s`}" is shorter than the longest bantime (${longest}s): those bans would be purged from the database and lost on restart. Fix: set it to at least ${longest}s, or leave it unset.`);
  }
  return problems;
}

/** The API-server jails' warning when the cluster block cannot keep the nodes from being banned. */
function apiServerWarnings(config: ResolvedFail2ban): string[] {
  const apiJails = config.jails.filter((jail) => (jail.enabled ?? true) && baseName(jail.filter ?? jail.name).startsWith('k3s-apiserver'));
  if (apiJails.length === 0) {
    return [];
  }
  const jails = apiJails.map((jail) => `"${jail.name}"`).join(', ');
  if (!config.cluster) {
    return [`jail ${jails} watches the API server, but there is no cluster block: a misbehaving pod or node could be banned from the API server it needs. Fix: in src/main.ts, add cluster: { nodeAddresses: ['192.0.2.10', '192.0.2.11'] } with every node's INTERNAL-IP from \`kubectl get nodes -o wide\` (or their subnet, e.g. '192.0.2.0/24'); the pod and service networks default to k3s's.`];
  }
  if (config.cluster.nodeAddresses.length === 0) {
    return [`jail ${jails} watches the API server, but cluster.nodeAddresses is empty: a node with a wrong token could be banned from the API server. Fix: in src/main.ts, put every node's INTERNAL-IP from \`kubectl get nodes -o wide\` into cluster.nodeAddresses, e.g. nodeAddresses: ['192.0.2.10', '192.0.2.11'] (or their subnet, e.g. '192.0.2.0/24').`];
  }
  return [];
}

/** The workflow that may manage bans: what its token's claims are compared with, as names GitHub gives out. */
function checkBanManager(config: ResolvedFail2ban): string[] {
  const workflow = config.banManager?.workflow;
  if (!workflow) return [];
  const where = 'banManager.github';
  const checks: Array<[keyof typeof workflow, RegExp, string]> = [
    ['repository', /^[A-Za-z0-9_-]+\/[A-Za-z0-9._-]+$/, "the repository's owner/name, e.g. 'example-user/homelab'"],
    ['workflow', /^\.github\/workflows\/[A-Za-z0-9._-]+\.ya?ml$/, "the workflow file, e.g. '.github/workflows/manage-fail2ban.yml'"],
    ['branch', /^(?!.*\.\.)[A-Za-z0-9._/-]+$/, "a branch name, e.g. 'main'"],
    ['environment', /^[A-Za-z0-9._-]+$/, "a GitHub environment name, e.g. 'fail2ban-bans'"],
    ['audience', /^[A-Za-z0-9._:/-]+$/, "e.g. 'k3s-fail2ban'"],
  ];
  return checks
    .filter(([key, pattern]) => !pattern.test(workflow[key]))
    .map(([key, , fix]) => `${where}: ${key} "${workflow[key]}" is not what the token's claims can hold. Fix: ${fix}.`);
}

/** Warnings: settings that work but may hurt, printed by synth without refusing. */
export function fail2banWarnings(config: ResolvedFail2ban): string[] {
  const placeholder = config.banManager?.workflow.repository === PLACEHOLDER_REPOSITORY
    ? [`banManager.github.repository is the placeholder "${PLACEHOLDER_REPOSITORY}": no workflow can manage bans. Fix: in src/main.ts, set it to this repository's owner/name, e.g. 'example-user/homelab'.`]
    : [];
  return [...apiServerWarnings(config), ...placeholder, ...config.features.flatMap((feature) => feature.warnings?.(config) ?? [])];
}

/** Every problem of a configuration, each naming the jail, setting or file, the bad value and the fix. */
/** The package's API group names CRDs (`operatorbans.GROUP`): a DNS subdomain with at least one dot. */
function checkApiGroup(group: string): string[] {
  return /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/.test(group)
    ? []
    : [`apiGroup "${group}" is not a DNS subdomain with a dot (CRD names are <plural>.<group>). Fix: use e.g. 'fail2ban.homelab.internal', or leave it unset.`];
}

export function validateFail2ban(config: ResolvedFail2ban): string[] {
  return [
    ...checkControlCharacters(config),
    ...checkImage(config.image, config.allowUnpinnedImage),
    ...checkTimeZone(config.timeZone),
    ...checkPurgeAge(config),
    ...checkBanManager(config),
    ...checkApiGroup(config.apiGroup),
    ...config.features.flatMap((feature) => feature.validate?.(config) ?? []),
    ...checkSettings('[DEFAULT]', config.defaults, config),
    ...duplicates(config.jails.map((j) => j.name)).map((name) => `jail "${name}" is defined more than once; fail2ban would merge the sections silently. Fix: keep one jail per name.`),
    ...config.jails.flatMap((jail) => checkJail(jail, config)),
    ...duplicates(config.filters.map((f) => f.name)).map((name) => `filter "${name}" is given more than once. Fix: keep one filters/${name}.conf.`),
    ...checkFilterKeys(config.filters),
    ...config.filters.flatMap(checkFilterFile),
    ...config.filters
      .filter((filter) => /[\u0000-\u0008\u000b-\u001f\u007f]/.test(filter.content))
      .map((filter) => `filter "${filter.name}": filters/${filter.name}.conf holds a control character other than a tab or a newline. Fix: remove it.`),
    ...config.hostPathMounts.flatMap(checkHostPathMount),
  ];
}
