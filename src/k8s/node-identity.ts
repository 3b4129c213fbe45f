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
