import * as fs from 'node:fs';
import { BlockList } from 'node:net';
import { packagePath } from './package-path';

/** A range no ban may ever hold, and what it is. */
export interface NeverBanRange {
  readonly range: string;
  readonly what: string;
}

/** The policy file; the node agent reads the same file from its package, and the CRD's rule is generated from it. */
export const NEVER_BAN_FILE = packagePath('agent', 'never_ban.json');

/** Unspecified, loopback, link-local, multicast, reserved and IPv4-mapped addresses: `agent/never_ban.json`. */
export const ALWAYS_NEVER_BAN: readonly NeverBanRange[] = JSON.parse(fs.readFileSync(NEVER_BAN_FILE, 'utf8')).ranges;

const blocks = ALWAYS_NEVER_BAN.map(({ range, what }) => {
  const [address, prefix] = range.split('/');
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  list.addSubnet(address, Number(prefix), family);
  return { range, what, list, family } as const;
});

/** What kind of address no ban may hold `address` is (`loopback`, `IPv4-mapped`, …), or undefined. */
export function neverBannable(address: string): NeverBanRange | undefined {
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  return blocks.find((block) => block.family === family && block.list.check(address, family));
}
