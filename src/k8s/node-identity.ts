import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

/** The node name Kubernetes (≥ 1.30, on by default) puts into a pod-bound ServiceAccount token. */
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

/**
 * An admission policy's variable `node`: the node name in the request's token, or "" when it carries none. It binds
 * each node agent's writes to its own node's objects.
 */
export const NODE_POLICY_VARIABLE = `'${NODE_NAME_EXTRA}' in request.userInfo.extra && size(request.userInfo.extra['${NODE_NAME_EXTRA}']) > 0 ? request.userInfo.extra['${NODE_NAME_EXTRA}'][0] : ""`;

/** An admission policy's match condition: requests of the node agents' ServiceAccount, never an administrator's. */
export function nodeAgentMatchCondition(namespace: string, serviceAccountName: string): string {
  return `request.userInfo.username == 'system:serviceaccount:${namespace}:${serviceAccountName}'`;
}

/** Props of {@link NodeAgentPolicy}. */
export interface NodeAgentPolicyProps {
  readonly group: string;
  /** The resource (plural) whose writes it checks. */
  readonly resource: string;
  readonly operations: readonly ('CREATE' | 'UPDATE' | 'DELETE')[];
  readonly namespace: string;
  /** The node agents' ServiceAccount: only its requests are matched, never an administrator's. */
  readonly serviceAccountName: string;
  readonly labels: Record<string, string>;
  /** CEL over `object`, `oldObject`, `request` and `variables.node` (the node in the token). */
  readonly validations: readonly { readonly expression: string; readonly message: string }[];
}

/**
 * A ValidatingAdmissionPolicy, bound with Deny, that ties the node agents' writes of one resource to the node named
 * in each agent's pod-bound token.
 */
export class NodeAgentPolicy extends Construct {
  constructor(scope: Construct, id: string, props: NodeAgentPolicyProps) {
    super(scope, id);
    const policyName = `${props.serviceAccountName}-${props.resource}.${props.group}`;
    new ApiObject(this, 'Policy', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: policyName, labels: props.labels },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [props.group], apiVersions: ['v1'], operations: [...props.operations], resources: [props.resource] }] },
        matchConditions: [{ name: 'fail2ban-pods-only', expression: nodeAgentMatchCondition(props.namespace, props.serviceAccountName) }],
        variables: [{ name: 'node', expression: NODE_POLICY_VARIABLE }],
        validations: props.validations,
      },
    });
    new ApiObject(this, 'PolicyBinding', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: policyName, labels: props.labels },
      spec: { policyName, validationActions: ['Deny'] },
    });
  }
}
