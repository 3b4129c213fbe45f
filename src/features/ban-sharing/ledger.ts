import { KubeResourceQuota, KubeRole, KubeRoleBinding, Quantity } from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';
import { celString } from '../../model/cel';
import { ALWAYS_NEVER_BAN } from '../../model/never-ban';
import { BAN_RECORD, banRecordNameRule } from './record';
import { NamespacedResourceDefinition } from '../../k8s/custom-resource';
import { NodeAgentPolicy } from '../../k8s/node-identity';

/** Props of {@link BanLedger}. */
export interface BanLedgerProps {
  /** Namespace of the fail2ban pods and of every record. */
  readonly namespace: string;
  /** ServiceAccount of the fail2ban pods (only the agent mounts its token). */
  readonly serviceAccountName: string;
  /** API group of the `Ban` records. */
  readonly group: string;
  /** Labels of every object. */
  readonly labels: Record<string, string>;
  /** `Ban` objects the namespace may hold (a ResourceQuota). */
  readonly maxRecords: number;
}

/** When a ban ends, as a CEL expression over a `Ban` object; permanent bans are handled before it is used. */
function endOf(object: string): string {
  return `timestamp(${object}.spec.bannedAt) + duration(string(${object}.spec.banTime) + 's')`;
}

/** The CRD's rules, as CEL: a single canonical address, and a name that is the jail and the address. */
export const BAN_RECORD_RULES = {
  ip: 'isIP(self.ip) && ip.isCanonical(self.ip)',
  neverBan: `![${ALWAYS_NEVER_BAN.map((entry) => celString(entry.range)).join(', ')}].exists(r, cidr(r).containsIP(self.ip))`,
  name: banRecordNameRule(),
};

/** The admission policy's rules, as CEL, for requests of the fail2ban ServiceAccount only. */
export const BAN_POLICY_VALIDATIONS = [
  { expression: 'variables.node != ""', message: 'the token carries no node name: only pod-bound tokens of fail2ban pods may write bans' },
  { expression: "request.operation == 'DELETE' || object.spec.node == variables.node", message: 'a node may only write its own records (spec.node)' },
  {
    expression: "request.operation == 'DELETE' || !has(object.metadata.finalizers) || size(object.metadata.finalizers) == 0",
    message: "a node may not add finalizers: an administrator's delete must take effect at once",
  },
  { expression: "request.operation != 'DELETE' || oldObject.spec.node == variables.node", message: 'a node may only delete its own records' },
  {
    expression:
      "request.operation != 'UPDATE' || (object.spec.ip == oldObject.spec.ip && object.spec.jail == oldObject.spec.jail && object.spec.node == oldObject.spec.node)",
    message: 'ip, jail and node of a record never change',
  },
  {
    expression: `request.operation != 'UPDATE' || object.spec.banTime == -1 || (oldObject.spec.banTime != -1 && ${endOf('object')} >= ${endOf('oldObject')})`,
    message: 'an update may only extend a ban',
  },
];

/**
 * The ledger of shared bans: the `Ban` CRD, the fail2ban ServiceAccount's access to `bans`, and an admission
 * policy that binds every write of that ServiceAccount to the node in its token.
 */
export class BanLedger extends Construct {
  constructor(scope: Construct, id: string, props: BanLedgerProps) {
    super(scope, id);
    const { namespace, group, labels } = props;
    const name = props.serviceAccountName;

    new KubeRole(this, 'Role', {
      metadata: { name: `${name}-bans`, namespace, labels },
      rules: [{ apiGroups: [group], resources: ['bans'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] }],
    });
    new KubeRoleBinding(this, 'RoleBinding', {
      metadata: { name: `${name}-bans`, namespace, labels },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${name}-bans` },
    });

    new NamespacedResourceDefinition(this, 'Definition', {
      group,
      labels,
      kind: 'Ban',
      printerColumns: [
        { name: 'IP', type: 'string', jsonPath: '.spec.ip' },
        { name: 'Jail', type: 'string', jsonPath: '.spec.jail' },
        { name: 'Node', type: 'string', jsonPath: '.spec.node' },
        { name: 'Banned at', type: 'date', jsonPath: '.spec.bannedAt' },
        { name: 'Ban time', type: 'integer', jsonPath: '.spec.banTime' },
      ],
      schema: {
        type: 'object',
        required: ['spec'],
        'x-kubernetes-validations': [{ rule: BAN_RECORD_RULES.name, message: 'the name must be <jail>.v4-a-b-c-d.<node> or <jail>.v6-<address with - for :>.<node>' }],
        properties: {
          spec: {
            type: 'object',
            required: BAN_RECORD.spec.required,
            'x-kubernetes-validations': [
              { rule: BAN_RECORD_RULES.ip, message: 'ip must be one address in canonical form' },
              { rule: BAN_RECORD_RULES.neverBan, message: 'ip is an address no ban may hold (unspecified, loopback, link-local, multicast, reserved, IPv4-mapped)' },
            ],
            properties: BAN_RECORD.spec.properties,
          },
        },
      },
    });

    // However many records a node writes, the API server stores no more than this: LISTs stay small.
    new KubeResourceQuota(this, 'Quota', {
      metadata: { name: `${name}-bans`, namespace, labels },
      spec: { hard: { [`count/bans.${group}`]: Quantity.fromNumber(props.maxRecords) } },
    });

    // Administrators are not matched: `kubectl delete ban` stays a cluster-wide unban.
    new NodeAgentPolicy(this, 'Admission', { group, resource: 'bans', operations: ['CREATE', 'UPDATE', 'DELETE'], namespace, serviceAccountName: name, labels, validations: BAN_POLICY_VALIDATIONS });
  }
}
