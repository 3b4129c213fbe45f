import * as fs from 'node:fs';
import { packagePath } from '../../model/package-path';
import { celString } from '../../model/cel';
import { addressObjectName, addressObjectNameCel } from '../../model/address-name';

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
  return `${addressObjectName(jail, canonicalAddress)}${BAN_RECORD.name.originSeparator}${node}`;
}

/** The name rule as the CRD's CEL validation, generated from the contract. */
export function banRecordNameRule(): string {
  return `self.metadata.name == ${addressObjectNameCel()} + ${celString(BAN_RECORD.name.originSeparator)} + self.spec.node`;
}
