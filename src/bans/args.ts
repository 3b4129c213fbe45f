import { parseArgs } from 'node:util';
import { BansSettings } from './settings';
import { BanAction } from './fail2ban-client';
import { BansUsageError, checkJail, checkNotIgnored, parseAddress } from './validate';

export const DEFAULT_TIMEOUT_SECONDS = 20;
const MAX_TIMEOUT_SECONDS = 600;

export const BANS_USAGE = `usage: npm run bans -- list   [--jail NAME] [--json]
       npm run bans -- ban    --jail NAME --ip ADDRESS
       npm run bans -- unban  --jail NAME --ip ADDRESS

Lists, bans or unbans addresses in fail2ban on every node, through kubectl ($KUBECTL, or kubectl on PATH).

  --jail NAME          an enabled jail; list shows every jail when omitted
  --ip ADDRESS         one IPv4 or IPv6 address (no ranges, no host names)
  --namespace NS       namespace of the fail2ban pods (default: the DaemonSet's)
  --timeout SECONDS    per node and call (default ${DEFAULT_TIMEOUT_SECONDS})
  --json               list only: print the result as JSON
  --help               show this text

Exit codes: 0 done (list: all nodes agree), 1 some node failed, is missing or disagrees (each is named),
2 usage or validation error (nothing was run).`;

interface Reach {
  readonly namespace: string;
  readonly timeoutSeconds: number;
}

/** A command line that passed validation. */
export type BansCommand =
  | { readonly kind: 'help' }
  | (Reach & { readonly kind: 'list'; readonly jails: string[]; readonly json: boolean })
  | (Reach & { readonly kind: BanAction; readonly jail: string; readonly address: string });

const OPTIONS = {
  jail: { type: 'string' },
  ip: { type: 'string' },
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

/** A namespace is a DNS label; checking it also keeps a value like `--kubeconfig=…` from reaching kubectl. */
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
    if (values.ip !== undefined) {
      throw new BansUsageError('--ip is for ban and unban; list shows every address.');
    }
    const jails = values.jail === undefined ? config.jails : [checkJail(values.jail, config.jails)];
    return { kind, ...reach, jails, json: values.json === true };
  }
  if (values.json) {
    throw new BansUsageError(`--json is for list; ${kind} prints a table.`);
  }
  const jail = checkJail(values.jail, config.jails);
  const address = parseAddress(values.ip);
  if (kind === 'ban') {
    // Unbanning an ignored address stays allowed: it is how a wrong manual ban is undone.
    checkNotIgnored(address, config.ignoreIp);
  }
  return { kind, ...reach, jail, address };
}
