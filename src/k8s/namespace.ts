import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/** Props of {@link PrivilegedNamespace}. */
export interface PrivilegedNamespaceProps {
  /** Namespace name. */
  readonly name: string;
  /** Labels besides the Pod Security Admission ones. @default none */
  readonly labels?: Record<string, string>;
}

/** A namespace whose Pod Security Admission level admits privileged, host-network pods. */
export class PrivilegedNamespace extends Construct {
  /** The namespace name. */
  public readonly name: string;

  constructor(scope: Construct, id: string, props: PrivilegedNamespaceProps) {
    super(scope, id);
    this.name = props.name;
    // All three modes, so that neither admission nor audit/warn noise objects to the DaemonSet.
    const podSecurity = Object.fromEntries(
      ['enforce', 'audit', 'warn'].map((mode) => [`pod-security.kubernetes.io/${mode}`, 'privileged']),
    );
    new kplus.Namespace(this, 'Resource', {
      metadata: { name: props.name, labels: { ...props.labels, ...podSecurity } },
    });
  }
}
