import { parseArgs } from 'node:util';
import { BansSettings } from './settings';
import { BansUsageError, checkJail, checkNotIgnored, parseAddress } from './validate';

/** The two orders an operator gives. */
export type BanAction = 'ban' | 'unban';

const DEFAULT_TIMEOUT_SECONDS = 20;
const MAX_TIMEOUT_SECONDS = 600;
/** The CRD's limit on `spec.reason` (docs/operator-bans.md). */
const MAX_REASON_CHARACTERS = 256;
/** Longer than any ban an operator means to end: beyond it, `permanent` says what is meant. */
const MAX_BAN_DAYS = 3650;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

export const BANS_USAGE = `usage: npm run bans -- list   [--jail NAME] [--json]
       npm run bans -- ban    --jail NAME --ip ADDRESS [--for DURATION] [--reason TEXT]
       npm run bans -- unban  --jail NAME --ip ADDRESS [--reason TEXT]

Lists, bans or unbans addresses on every node through the Kubernetes API, with kubectl ($KUBECTL, or kubectl on
PATH): ban and unban write an OperatorBan object and wait until every node's Fail2banNode report shows it applied;
list reads the Fail2banNode reports.

  --jail NAME          an enabled jail; list shows every jail when omitted
  --ip ADDRESS         one IPv4 or IPv6 address (no ranges, no host names)
  --for DURATION       ban only: 30m, 12h, 7d, 2w or permanent (default: the jail's own ban time)
  --reason TEXT        ban and unban: why, kept in the order (at most ${MAX_REASON_CHARACTERS} characters, one line)
  --namespace NS       namespace of the fail2ban DaemonSet and its objects (default: the DaemonSet's)
  --timeout SECONDS    how long to wait for every node's report (default ${DEFAULT_TIMEOUT_SECONDS})
  --json               list only: print the result as JSON
  --help               show this text

Exit codes: 0 done on every node (list: all nodes agree), 1 some node refused, did not report in time or
disagrees (each is named), 2 usage or validation error (nothing was sent).`;

interface Reach {
  readonly namespace: string;
  readonly timeoutSeconds: number;
}

/** A ban or unban order that passed validation. */
export interface ChangeCommand extends Reach {
  readonly kind: BanAction;
  readonly jail: string;
  readonly address: string;
  /** Ban only: seconds until the ban ends; -1 for a permanent ban. */
  readonly banSeconds?: number;
  readonly reason?: string;
}

/** A command line that passed validation. */
export type BansCommand =
  | { readonly kind: 'help' }
  | (Reach & { readonly kind: 'list'; readonly jails: string[]; readonly json: boolean })
  | ChangeCommand;

const OPTIONS = {
  jail: { type: 'string' },
  ip: { type: 'string' },
  for: { type: 'string' },
  reason: { type: 'string' },
  namespace: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      throw new BansUsageError((error as Error).message);
    }
    throw error;
  }
}

/** A namespace is a DNS label; it becomes part of every API path. */
function parseNamespace(raw: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(raw)) {
    throw new BansUsageError(`--namespace ${JSON.stringify(raw)} is not a namespace name: use lower-case letters, digits and '-'.`);
  }
  return raw;
}

function parseTimeout(raw: string | undefined): number {
  if (raw === undefined) {
    return DEFAULT_TIMEOUT_SECONDS;
  }
  const seconds = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new BansUsageError(`--timeout ${JSON.stringify(raw)} is not a whole number of seconds from 1 to ${MAX_TIMEOUT_SECONDS}.`);
  }
  return seconds;
}

/** Seconds of `--for`; -1 for `permanent`. */
function parseBanFor(raw: string): number {
  if (raw === 'permanent') {
    return -1;
  }
  const match = /^([1-9]\d{0,6})([smhdw])$/.exec(raw);
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2]] : NaN;
  if (!(seconds <= MAX_BAN_DAYS * UNIT_SECONDS.d)) {
    throw new BansUsageError(
      `--for ${JSON.stringify(raw)} is not a ban time: give a whole number and one unit (s, m, h, d, w), e.g. 30m, 12h or 7d, ` +
        `at most ${MAX_BAN_DAYS}d, or permanent.`,
    );
  }
  return seconds;
}

/** `--reason` lands in the object as is: the CRD's limits, checked before anything is sent. */
function parseReason(raw: string): string {
  if (raw === '') {
    throw new BansUsageError('--reason is empty: give a short text, or leave --reason out.');
  }
  if (/[\u0000-\u001f\u007f]/.test(raw)) {
    throw new BansUsageError('--reason contains a control character (a line break, a tab, an escape): write it on one line.');
  }
  // The API server counts characters (code points), not UTF-16 units.
  const length = [...raw].length;
  if (length > MAX_REASON_CHARACTERS) {
    throw new BansUsageError(`--reason has ${length} characters: at most ${MAX_REASON_CHARACTERS} fit in the order.`);
  }
  return raw;
}

function parseKind(positionals: string[]): 'list' | BanAction {
  const [kind, ...extra] = positionals;
  if (kind === undefined) {
    throw new BansUsageError('no command: give list, ban or unban.');
  }
  if (kind !== 'list' && kind !== 'ban' && kind !== 'unban') {
    throw new BansUsageError(`unknown command ${JSON.stringify(kind)}: give list, ban or unban.`);
  }
  if (extra.length > 0) {
    throw new BansUsageError(`unexpected argument ${JSON.stringify(extra[0])}: options take the form --name VALUE.`);
  }
  return kind;
}

/** The command line, fully validated: nothing reaches the cluster unless this returns. */
export function parseCommand(argv: string[], config: BansSettings): BansCommand {
  const { values, positionals } = parse(argv);
  if (values.help) {
    return { kind: 'help' };
  }
  const kind = parseKind(positionals);
  const reach = { namespace: parseNamespace(values.namespace ?? config.namespace), timeoutSeconds: parseTimeout(values.timeout) };
  if (kind === 'list') {
    for (const option of ['ip', 'for', 'reason'] as const) {
      if (values[option] !== undefined) {
        throw new BansUsageError(`--${option} is for ${option === 'for' ? 'ban' : 'ban and unban'}; list shows every address.`);
      }
    }
    const jails = values.jail === undefined ? config.jails : [checkJail(values.jail, config.jails)];
    return { kind, ...reach, jails, json: values.json === true };
  }
  if (values.json) {
    throw new BansUsageError(`--json is for list; ${kind} prints a table.`);
  }
  if (kind === 'unban' && values.for !== undefined) {
    throw new BansUsageError('--for is for ban: an unban has no duration.');
  }
  const jail = checkJail(values.jail, config.jails);
  const address = parseAddress(values.ip);
  const reason = values.reason === undefined ? undefined : parseReason(values.reason);
  if (kind === 'unban') {
    // Unbanning an ignored address stays allowed: it is how a wrong manual ban is undone.
    return { kind, ...reach, jail, address, ...(reason !== undefined && { reason }) };
  }
  checkNotIgnored(address, config.ignoreIp);
  const banSeconds = values.for === undefined ? config.banTimes[jail] : parseBanFor(values.for);
  return { kind, ...reach, jail, address, banSeconds, ...(reason !== undefined && { reason }) };
}
