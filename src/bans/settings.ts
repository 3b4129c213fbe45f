import { App, Chart } from 'cdk8s';
import { Fail2ban, Fail2banProps } from '../fail2ban';

/** What the ban CLI needs to know about the deployed fail2ban. */
export interface BansSettings {
  /** Namespace of the DaemonSet: the default of `--namespace`. */
  readonly namespace: string;
  /** Labels that select the fail2ban pods. */
  readonly selector: Record<string, string>;
  /** Names of the enabled jails: the only values `--jail` accepts. */
  readonly jails: string[];
  /** Addresses and CIDR ranges no jail may ban: `ignoreIp` of the defaults, the cluster block, every enabled jail's. */
  readonly ignoreIp: string[];
  /** With ban sharing: the ledger's API group, and each shared jail's mirror jail. @default no sharing */
  readonly sharing?: { readonly group: string; readonly mirrors: Record<string, string> };
}

/** Selector labels as `kubectl -l` takes them. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/**
 * The CLI's view of a deployment, taken from the construct that renders it, so the selector cannot drift from the
 * DaemonSet's. A jail's own ignoreIp replaces the defaults in fail2ban; refusing the union is the safe side.
 */
export function bansSettings(props: Fail2banProps): BansSettings {
  const fail2ban = new Fail2ban(new Chart(new App(), 'bans'), 'fail2ban', props);
  const enabled = props.jails.filter((jail) => jail.enabled !== false);
  const ignoreIp = [...fail2ban.neverBan, ...enabled.flatMap((jail) => jail.ignoreIp ?? [])];
  return {
    namespace: fail2ban.namespace,
    selector: fail2ban.selectorLabels,
    jails: enabled.map((jail) => jail.name),
    ignoreIp: [...new Set(ignoreIp)],
    ...(fail2ban.banSharing && { sharing: { group: fail2ban.banSharing.group, mirrors: fail2ban.banSharing.mirrors } }),
  };
}
