import { Lazy } from 'cdk8s';
import { KubeClusterRole, KubeClusterRoleBinding, KubeRole, KubeRoleBinding, PolicyRule } from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';

/** Props of {@link BanManagerAccess}. */
export interface BanManagerAccessProps {
  /** Namespace of the fail2ban pods. */
  readonly namespace: string;
  /** Labels of every object. */
  readonly labels: Record<string, string>;
  /** The user the API server authenticates the "Manage Fail2ban" workflow as (from its GitHub OIDC token). */
  readonly user: string;
}

/** The name of the ban manager's roles and bindings. */
export const BAN_MANAGER = 'fail2ban-ban-manager';

/**
 * What `npm run bans` needs and nothing more, for the workflow that manages bans: get/list pods and exec into them in
 * the fail2ban namespace, get/list nodes to find nodes without a pod. Bound to the workflow's user; there is no
 * ServiceAccount and no stored token.
 */
export class BanManagerAccess extends Construct {
  private readonly rules: PolicyRule[] = [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    // kubectl before 1.30 execs with POST (create), newer ones over WebSocket with GET (get).
    { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
  ];

  constructor(scope: Construct, id: string, props: BanManagerAccessProps) {
    super(scope, id);
    const metadata = { name: BAN_MANAGER, namespace: props.namespace, labels: props.labels };
    const subjects = [{ kind: 'User', name: props.user, apiGroup: 'rbac.authorization.k8s.io' }];
    // Rendered late: features add the rules the CLI needs for them (addRule).
    new KubeRole(this, 'Role', { metadata, rules: Lazy.any({ produce: () => this.rules }) });
    new KubeRoleBinding(this, 'RoleBinding', { metadata, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: BAN_MANAGER } });
    const clusterMetadata = { name: BAN_MANAGER, labels: props.labels };
    new KubeClusterRole(this, 'ClusterRole', { metadata: clusterMetadata, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list'] }] });
    new KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: clusterMetadata,
      subjects,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: BAN_MANAGER },
    });
  }

  /** Allows the workflow one more thing in the fail2ban namespace. */
  public addRule(rule: PolicyRule): void {
    this.rules.push(rule);
  }
}
