import { BlockList } from 'node:net';
import { ipFamily } from '../model/ip';
import { neverBannable } from '../model/never-ban';

/** A command line that must not run: nothing was sent to the cluster. The message names the problem and the fix. */
export class BansUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BansUsageError';
  }
}

/** Same form as fail2ban stores it: lower-case compressed IPv6; an IPv4-mapped IPv6 address becomes IPv4. */
function canonicalIPv6(address: string): string {
  const host = new URL(`http://[${address}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) {
    return host;
  }
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** An address as fail2ban lists it, so that read-backs compare equal; anything that is not an address stays as is. */
export function normalizeAddress(text: string): string {
  return ipFamily(text) === 6 ? canonicalIPv6(text) : text;
}

/**
 * The one IPv4 or IPv6 address of `--ip`, in fail2ban's form. fail2ban 1.0.2's `set JAIL banip` bans any word it is
 * given (a host name, a CIDR, text); the CRD and every node's agent check again, but a refusal there comes only after
 * the order is written, and here before anything is sent.
 */
export function parseAddress(raw: string | undefined): string {
  const fix = 'give exactly one IPv4 or IPv6 address, e.g. --ip 203.0.113.5 or --ip 2001:db8::5';
  if (raw === undefined || raw === '') {
    throw new BansUsageError(`--ip is missing: ${fix}.`);
  }
  if (ipFamily(raw) === 0) {
    throw new BansUsageError(`--ip ${JSON.stringify(raw)} is not a single IP address (no ranges, host names, spaces or other text): ${fix}.`);
  }
  const address = normalizeAddress(raw);
  const never = neverBannable(address);
  if (never) {
    throw new BansUsageError(`--ip ${address} is ${/^[aeiou]/i.test(never.what) ? 'an' : 'a'} ${never.what} address (${never.range}), which no ban may hold: ${fix}.`);
  }
  return address;
}

/** One ignoreip entry (address or CIDR) as a block list; anything else is a configuration error. */
function ignoreRange(entry: string): BlockList {
  const [address, prefix, ...rest] = entry.split('/');
  const family = ipFamily(address);
  const maxPrefix = family === 4 ? 32 : 128;
  const bits = prefix === undefined ? maxPrefix : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (family === 0 || rest.length > 0 || !(bits <= maxPrefix)) {
    throw new BansUsageError(`ignoreIp entry ${JSON.stringify(entry)} is not an address or CIDR range: fix it in src/main.ts.`);
  }
  const range = new BlockList();
  range.addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
  return range;
}

/**
 * Refuses an address fail2ban is configured never to ban: `set banip` does not look at ignoreip, and banning the
 * tailnet (100.64.0.0/10) or loopback would lock the operators out of every node.
 */
export function checkNotIgnored(address: string, ignoreIp: readonly string[]): void {
  const family = ipFamily(address) === 4 ? 'ipv4' : 'ipv6';
  const ranges = ignoreIp.map((entry) => ({ entry, range: ignoreRange(entry) }));
  const entry = ranges.find(({ range }) => range.check(address, family))?.entry;
  if (entry !== undefined) {
    throw new BansUsageError(
      `${address} is inside ignoreIp ${entry}: fail2ban must never ban it (loopback, or the tailnet you manage the cluster from). ` +
        'Ban a different address, or remove the range from ignoreIp in src/main.ts first.',
    );
  }
}

/** `--jail` must name a jail that runs on the nodes. */
export function checkJail(jail: string | undefined, enabledJails: readonly string[]): string {
  const known = `enabled jails: ${enabledJails.join(', ')}`;
  if (jail === undefined || jail === '') {
    throw new BansUsageError(`--jail is missing: name one of the ${known}.`);
  }
  if (!enabledJails.includes(jail)) {
    throw new BansUsageError(`--jail ${JSON.stringify(jail)} is not an enabled jail: use one of the ${known} (or enable it in src/main.ts).`);
  }
  return jail;
}
