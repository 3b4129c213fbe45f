import { Lazy } from 'cdk8s';
import { KubeRole, KubeRoleBinding, PolicyRule } from 'cdk8s-plus-28/lib/imports/k8s';
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
 * What `npm run bans` needs and nothing more, for the workflow that manages bans: the rules features add (the
 * operator's ban objects and the nodes' reports), in the fail2ban namespace only. No pods, no exec, no secrets, no
 * nodes. Bound to the workflow's user; there is no ServiceAccount and no stored token.
 */
export class BanManagerAccess extends Construct {
  private readonly rules: PolicyRule[] = [];

  constructor(scope: Construct, id: string, props: BanManagerAccessProps) {
    super(scope, id);
    const metadata = { name: BAN_MANAGER, namespace: props.namespace, labels: props.labels };
    const subjects = [{ kind: 'User', name: props.user, apiGroup: 'rbac.authorization.k8s.io' }];
    // Rendered late: features add the rules the CLI needs for them (addRule).
    new KubeRole(this, 'Role', { metadata, rules: Lazy.any({ produce: () => this.rules }) });
    new KubeRoleBinding(this, 'RoleBinding', { metadata, subjects, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: BAN_MANAGER } });
  }

  /** Allows the workflow one more thing in the fail2ban namespace. */
  public addRule(rule: PolicyRule): void {
    this.rules.push(rule);
  }
}
