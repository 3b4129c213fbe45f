import { BanTime } from './duration';
import { JailProps } from './jail';
import { hostLog } from './log-path';

/** Where the audit log goes on the k3s server (a file under the host's /var/log, which the DaemonSet mounts). */
export const K3S_AUDIT_LOG = '/var/log/k3s-audit.log';

/** Where the generated audit policy goes on the k3s server. */
export const K3S_AUDIT_POLICY = '/etc/rancher/k3s/audit-policy.yaml';

/** Options of {@link k3sApiserverAuditJail}. */
export interface K3sAuditJailOptions {
  /** Turn the jail on once the k3s server writes its audit log (see README). @default false */
  readonly enabled?: boolean;
  /** Failed requests before a ban. @default 10 */
  readonly maxRetry?: number;
  /** Ban length. @default the [DEFAULT] bantime */
  readonly banTime?: BanTime;
  /** The audit log on the host. @default K3S_AUDIT_LOG */
  readonly hostLogFile?: string;
}

/**
 * The `k3s-apiserver-audit` jail: every request kube-apiserver refused for bad or missing credentials, from its
 * JSON audit log, banning the TCP peer. Off until the server writes that log; the syslog jail sees only a few such
 * failures at default verbosity.
 */
export function k3sApiserverAuditJail(options: K3sAuditJailOptions = {}): JailProps {
  return {
    name: 'k3s-apiserver-audit',
    filter: 'k3s-apiserver-audit',
    enabled: options.enabled ?? false,
    logPath: hostLog(options.hostLogFile ?? K3S_AUDIT_LOG),
    maxRetry: options.maxRetry ?? 10,
    // Agents have no audit log; without a file there, fail2ban would not start on them.
    logMayBeMissing: true,
    ...(options.banTime === undefined ? {} : { banTime: options.banTime }),
  };
}

/**
 * The audit policy for the k3s server: metadata of every request that did not authenticate, nothing else.
 * A request that fails authentication carries no user, so it matches no user rule; authenticated traffic (nodes,
 * controllers, kubectl) is the noise and is dropped. Failed authentications are audited at stage ResponseStarted
 * only, so RequestReceived can be omitted.
 */
export function k3sAuditPolicy(): object {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    rules: [
      { level: 'None', userGroups: ['system:authenticated'] },
      { level: 'Metadata' },
    ],
  };
}
