import * as fs from 'node:fs';
import { Construct } from 'constructs';
import { celString } from '../../model/cel';
import { ipFamily } from '../../model/ip';
import { ALWAYS_NEVER_BAN } from '../../model/never-ban';
import { packagePath } from '../../model/package-path';
import { NamespacedResourceDefinition } from '../../k8s/custom-resource';
import { addressObjectNameCel } from '../../model/address-name';

/** Props of {@link OperatorBanDefinition}. */
export interface OperatorBanDefinitionProps {
  readonly group: string;
  readonly labels: Record<string, string>;
  /** The enabled jails: the only values `spec.jail` takes. */
  readonly jails: readonly string[];
  /** Ranges no jail bans (the never-ban list), and each jail's own `ignoreIp` on top of it. */
  readonly neverBan: readonly string[];
  readonly jailNeverBan: Readonly<Record<string, readonly string[]>>;
}

/** The schema of an order's times, as `agent/operator_ban.json` writes it down for the CRD and the agent. */
const ORDER_TIME: Record<string, unknown> = JSON.parse(fs.readFileSync(packagePath('agent', 'operator_ban.json'), 'utf8')).time;

/** An `ignoreIp` entry as a CIDR range for CEL's `cidr()`; host names (allowed by an opt-in) cannot be checked there. */
function cidrOf(entry: string): string | undefined {
  const [address, prefix] = entry.split('/');
  const family = ipFamily(address);
  if (family === 0) {
    return undefined;
  }
  return prefix === undefined ? `${address}/${family === 4 ? 32 : 128}` : entry;
}

/** CEL: `self.ip` lies in one of `ranges`. */
function inRanges(ranges: readonly string[]): string {
  const cidrs = [...new Set(ranges.map(cidrOf).filter((range): range is string => range !== undefined))];
  return cidrs.length === 0 ? 'false' : `[${cidrs.map(celString).join(', ')}].exists(r, cidr(r).containsIP(self.ip))`;
}

/** The CRD's rules on `spec`, as CEL: generated from the configuration, so they bind administrators and Flux too. */
export function operatorBanRules(props: Pick<OperatorBanDefinitionProps, 'neverBan' | 'jailNeverBan'>): { rule: string; message: string }[] {
  const always = ALWAYS_NEVER_BAN.map((entry) => entry.range);
  const perJail = Object.entries(props.jailNeverBan)
    .filter(([, ranges]) => ranges.length > 0)
    .map(([jail, ranges]) => `(self.jail == ${celString(jail)} && ${inRanges(ranges)})`);
  const neverBan = [inRanges([...always, ...props.neverBan]), ...perJail].join(' || ');
  return [
    { rule: 'isIP(self.ip) && ip.isCanonical(self.ip)', message: 'ip must be one address in canonical form (IPv6 compressed, lower case; IPv4 as dotted quad)' },
    { rule: `self.action != 'ban' || !(${neverBan})`, message: 'ip is in the never-ban list (ignoreip, the cluster block, loopback, link-local, multicast, unspecified): no ban may hold it' },
    { rule: "self.action == 'ban' || !has(self.expires)", message: 'expires is for bans only' },
    { rule: "!has(self.expires) || timestamp(self.expires) > timestamp(self.orderedAt)", message: 'expires must be after orderedAt' },
  ];
}

/** The name rule: the jail and the address, as ledger records are named without their origin node. */
export const OPERATOR_BAN_NAME_RULE = `self.metadata.name == ${addressObjectNameCel()}`;

/** The `OperatorBan` CRD: a ban or an unban of one address in one jail, ordered by an operator (docs/operator-bans.md). */
export class OperatorBanDefinition extends Construct {
  constructor(scope: Construct, id: string, props: OperatorBanDefinitionProps) {
    super(scope, id);
    new NamespacedResourceDefinition(this, 'Resource', {
      group: props.group,
      labels: props.labels,
      kind: 'OperatorBan',
      printerColumns: [
        { name: 'Jail', type: 'string', jsonPath: '.spec.jail' },
        { name: 'IP', type: 'string', jsonPath: '.spec.ip' },
        { name: 'Action', type: 'string', jsonPath: '.spec.action' },
        { name: 'Expires', type: 'date', jsonPath: '.spec.expires' },
        { name: 'Reason', type: 'string', jsonPath: '.spec.reason' },
      ],
      schema: {
        type: 'object',
        required: ['spec'],
        'x-kubernetes-validations': [{ rule: OPERATOR_BAN_NAME_RULE, message: 'the name must be <jail>.v4-a-b-c-d or <jail>.v6-<address with - for :>' }],
        properties: {
          spec: {
            type: 'object',
            required: ['jail', 'ip', 'action', 'orderedAt'],
            'x-kubernetes-validations': operatorBanRules(props),
            properties: {
              jail: { type: 'string', enum: [...props.jails] },
              ip: { type: 'string', maxLength: 39 },
              action: { type: 'string', enum: ['ban', 'unban'] },
              orderedAt: ORDER_TIME,
              expires: ORDER_TIME,
              reason: { type: 'string', maxLength: 256, pattern: '^[^\\x00-\\x1f\\x7f]*$' },
            },
          },
        },
      },
    });
  }
}
