import * as fs from 'node:fs';
import { packagePath } from '../../model/package-path';
import { celString } from '../../model/cel';

/** The ledger's Ban record as `agent/ban_record.json` writes it down once, for the TypeScript, the CEL and the agent. */
interface BanRecordContract {
  readonly name: {
    readonly jailSeparator: string;
    readonly familyPrefix: { readonly '4': string; readonly '6': string };
    readonly addressSeparators: readonly string[];
    readonly replacement: string;
    readonly closing: string;
    readonly originSeparator: string;
    readonly maxLength: number;
  };
  readonly spec: { readonly required: readonly string[]; readonly properties: Record<string, Record<string, unknown>> };
}

/** The contract file; the node agent reads the same file from its package. */
export const BAN_RECORD_CONTRACT_FILE = packagePath('agent', 'ban_record.json');

export const BAN_RECORD: BanRecordContract = JSON.parse(fs.readFileSync(BAN_RECORD_CONTRACT_FILE, 'utf8'));

/**
 * The name of `node`'s ledger record of a shared ban: `<jail>.v4-a-b-c-d.<node>` or
 * `<jail>.v6-<canonical address, ':' → '-'>.<node>`. Each node that bans an address has a record of its own.
 */
export function banRecordName(jail: string, canonicalAddress: string, node: string): string {
  const rule = BAN_RECORD.name;
  const closed = rule.addressSeparators.some((separator) => canonicalAddress.endsWith(separator)) ? canonicalAddress + rule.closing : canonicalAddress;
  const suffix = rule.addressSeparators.reduce((address, separator) => address.split(separator).join(rule.replacement), closed);
  return `${jail}${rule.jailSeparator}${rule.familyPrefix[canonicalAddress.includes(':') ? '6' : '4']}${suffix}${rule.originSeparator}${node}`;
}

/** The name rule as the CRD's CEL validation, generated from the contract. */
export function banRecordNameRule(): string {
  const rule = BAN_RECORD.name;
  const endsInSeparator = rule.addressSeparators.map((separator) => `self.spec.ip.endsWith(${celString(separator)})`).join(' || ');
  const closed = `(${endsInSeparator} ? self.spec.ip + ${celString(rule.closing)} : self.spec.ip)`;
  const address = rule.addressSeparators.reduce((expression, separator) => `${expression}.replace(${celString(separator)}, ${celString(rule.replacement)})`, closed);
  return `self.metadata.name == self.spec.jail + ${celString(rule.jailSeparator)} + (self.spec.ip.contains(':') ? ${celString(rule.familyPrefix['6'])} : ${celString(rule.familyPrefix['4'])}) + ${address} + ${celString(rule.originSeparator)} + self.spec.node`;
}
