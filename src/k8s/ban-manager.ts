import { Lazy } from 'cdk8s';
import {
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeRole,
  KubeRoleBinding,
  KubeSecret,
  KubeServiceAccount,
  PolicyRule,
} from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';

/** Props of {@link BanManagerAccess}. */
export interface BanManagerAccessProps {
  /** Namespace of the fail2ban pods. */
  readonly namespace: string;
  /** Labels of every object. */
  readonly labels: Record<string, string>;
  /** ServiceAccount the "Manage Fail2ban" runner uses. */
  readonly serviceAccountName: string;
}

/**
 * What `npm run bans` needs and nothing more, for the runner that manages bans instead of the k3s admin kubeconfig:
 * get/list pods and exec into them in the fail2ban namespace, get/list nodes to find nodes without a pod.
 */
export class BanManagerAccess extends Construct {
  /** The ServiceAccount name. */
  public readonly serviceAccountName: string;
  /** The Secret that holds the ServiceAccount's long-lived token for the runner's kubeconfig. */
  public readonly tokenSecretName: string;
  private readonly rules: PolicyRule[] = [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    // kubectl before 1.30 execs with POST (create), newer ones over WebSocket with GET (get).
    { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
  ];

  constructor(scope: Construct, id: string, props: BanManagerAccessProps) {
    super(scope, id);
    const name = props.serviceAccountName;
    const metadata = { name, namespace: props.namespace, labels: props.labels };
    const subjects = [{ kind: 'ServiceAccount', name, namespace: props.namespace }];
    this.serviceAccountName = name;
    this.tokenSecretName = `${name}-token`;

    new KubeServiceAccount(this, 'ServiceAccount', { metadata, automountServiceAccountToken: false });
    new KubeSecret(this, 'Token', {
      metadata: { ...metadata, name: this.tokenSecretName, annotations: { 'kubernetes.io/service-account.name': name } },
      type: 'kubernetes.io/service-account-token',
    });
    // Rendered late: features add the rules the CLI needs for them (addRule).
    new KubeRole(this, 'Role', { metadata, rules: Lazy.any({ produce: () => this.rules }) });
    new KubeRoleBinding(this, 'RoleBinding', { metadata, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name } });
    const clusterMetadata = { name, labels: props.labels };
    new KubeClusterRole(this, 'ClusterRole', {
      metadata: clusterMetadata,
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list'] }],
    });
    new KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: clusterMetadata,
      subjects,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    });
  }

  /** Allows the runner one more thing in the fail2ban namespace. */
  public addRule(rule: PolicyRule): void {
    this.rules.push(rule);
  }
}
