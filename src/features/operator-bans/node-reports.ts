import { Construct } from 'constructs';
import { NamespacedResourceDefinition } from '../../k8s/custom-resource';
import { NodeAgentPolicy } from '../../k8s/node-identity';

/** Props of {@link NodeReports}. */
export interface NodeReportsProps {
  readonly group: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  /** The node agents' ServiceAccount: the only writer of the reports. */
  readonly serviceAccountName: string;
}

/** The most addresses a report lists per jail (the agent's MAX_LISTED): an object stays far below etcd's limit. */
export const MAX_LISTED = 1000;

/** The admission policy's rules for the node agents' writes of `Fail2banNode` objects, as CEL. */
export const NODE_REPORT_POLICY_VALIDATIONS = [
  { expression: 'variables.node != ""', message: 'the token carries no node name: only pod-bound tokens of fail2ban pods may write reports' },
  { expression: 'object.metadata.name == variables.node', message: "a node may only write its own report (named after the node)" },
  { expression: 'has(object.status) && has(object.status.node) && object.status.node == variables.node', message: 'status.node must be the node in the token' },
  {
    expression: '!has(object.metadata.finalizers) || size(object.metadata.finalizers) == 0',
    message: "a node may not add finalizers: an administrator's delete must take effect at once",
  },
];

/**
 * `Fail2banNode`: one object per node, in which that node's agent reports which operator orders it applied and what
 * each jail holds (docs/operator-bans.md), and the admission policy that lets an agent write only its own.
 */
export class NodeReports extends Construct {
  constructor(scope: Construct, id: string, props: NodeReportsProps) {
    super(scope, id);
    const { group, labels } = props;
    const order = { type: 'object', required: ['generation', 'result'], properties: { uid: { type: 'string', maxLength: 36 }, generation: { type: 'integer' }, result: { type: 'string', enum: ['changed', 'unchanged', 'refused'] }, detail: { type: 'string', maxLength: 512 } } };
    const jail = { type: 'object', required: ['count', 'addresses'], properties: { count: { type: 'integer' }, addresses: { type: 'array', maxItems: MAX_LISTED, items: { type: 'string', maxLength: 39 } } } };
    new NamespacedResourceDefinition(this, 'Definition', {
      group,
      labels,
      kind: 'Fail2banNode',
      printerColumns: [
        { name: 'Reported', type: 'date', jsonPath: '.status.reportedAt' },
        { name: 'Error', type: 'string', jsonPath: '.status.error' },
      ],
      schema: {
        type: 'object',
        properties: {
          status: {
            type: 'object',
            required: ['node', 'reportedAt'],
            properties: {
              node: { type: 'string' },
              reportedAt: { type: 'string', format: 'date-time' },
              orders: { type: 'object', additionalProperties: order },
              jails: { type: 'object', additionalProperties: jail },
              error: { type: 'string', maxLength: 512 },
            },
          },
        },
      },
    });
    new NodeAgentPolicy(this, 'Admission', { group, resource: 'fail2bannodes', operations: ['CREATE', 'UPDATE'], namespace: props.namespace, serviceAccountName: props.serviceAccountName, labels, validations: NODE_REPORT_POLICY_VALIDATIONS });
  }
}
