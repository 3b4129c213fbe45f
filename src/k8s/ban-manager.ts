import { Construct } from 'constructs';
import {
  KubeClusterRole,
  KubeClusterRoleBinding,
  KubeRole,
  KubeRoleBinding,
  KubeSecret,
  KubeServiceAccount,
} from 'cdk8s-plus-28/lib/imports/k8s';

/** Props of {@link BanManagerAccess}. */
export interface BanManagerAccessProps {
  /** Namespace of the fail2ban pods. */
  readonly namespace: string;
  /** Labels of every object. */
  readonly labels: Record<string, string>;
  /** ServiceAccount the "Manage Fail2ban" runner uses. @default 'fail2ban-ban-manager' */
  readonly serviceAccountName?: string;
  /** With ban sharing, the ledger's API group: unbanning a shared ban deletes its record. @default no sharing */
  readonly banGroup?: string;
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

  constructor(scope: Construct, id: string, props: BanManagerAccessProps) {
    super(scope, id);
    const name = props.serviceAccountName ?? 'fail2ban-ban-manager';
    const metadata = { name, namespace: props.namespace, labels: props.labels };
    const subjects = [{ kind: 'ServiceAccount', name, namespace: props.namespace }];
    this.serviceAccountName = name;
    this.tokenSecretName = `${name}-token`;

    new KubeServiceAccount(this, 'ServiceAccount', { metadata, automountServiceAccountToken: false });
    new KubeSecret(this, 'Token', {
      metadata: { ...metadata, name: this.tokenSecretName, annotations: { 'kubernetes.io/service-account.name': name } },
      type: 'kubernetes.io/service-account-token',
    });
    new KubeRole(this, 'Role', {
      metadata,
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        // kubectl before 1.30 execs with POST (create), newer ones over WebSocket with GET (get).
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
        ...(props.banGroup ? [{ apiGroups: [props.banGroup], resources: ['bans'], verbs: ['delete'] }] : []),
      ],
    });
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
}
