import * as fs from 'node:fs';
import { celString } from './cel';
import { packagePath } from './package-path';

/** How an address in a jail becomes part of an object name, as `agent/ban_record.json` writes it down once. */
interface AddressNameRule {
  readonly jailSeparator: string;
  readonly familyPrefix: { readonly '4': string; readonly '6': string };
  readonly addressSeparators: readonly string[];
  readonly replacement: string;
  readonly closing: string;
}

/** The contract file: the node agent reads the same file from its package, the CRDs' CEL is generated from it. */
const RULE: AddressNameRule = JSON.parse(fs.readFileSync(packagePath('agent', 'ban_record.json'), 'utf8')).name;

/**
 * The name of an address in a jail: `<jail>.v4-a-b-c-d` or `<jail>.v6-<canonical address, ':' → '-'>` (an address
 * ending in a separator gets a closing character, as a name cannot end in '-'). An `OperatorBan` is named so; a
 * ledger record of ban sharing adds its origin node.
 */
export function addressObjectName(jail: string, canonicalAddress: string): string {
  const closed = RULE.addressSeparators.some((separator) => canonicalAddress.endsWith(separator)) ? canonicalAddress + RULE.closing : canonicalAddress;
  const suffix = RULE.addressSeparators.reduce((address, separator) => address.split(separator).join(RULE.replacement), closed);
  return `${jail}${RULE.jailSeparator}${RULE.familyPrefix[canonicalAddress.includes(':') ? '6' : '4']}${suffix}`;
}

/** {@link addressObjectName} as a CEL expression over an object with `spec.jail` and `spec.ip`. */
export function addressObjectNameCel(): string {
  const endsInSeparator = RULE.addressSeparators.map((separator) => `self.spec.ip.endsWith(${celString(separator)})`).join(' || ');
  const closed = `(${endsInSeparator} ? self.spec.ip + ${celString(RULE.closing)} : self.spec.ip)`;
  const address = RULE.addressSeparators.reduce((expression, separator) => `${expression}.replace(${celString(separator)}, ${celString(RULE.replacement)})`, closed);
  return `self.spec.jail + ${celString(RULE.jailSeparator)} + (self.spec.ip.contains(':') ? ${celString(RULE.familyPrefix['6'])} : ${celString(RULE.familyPrefix['4'])}) + ${address}`;
}
