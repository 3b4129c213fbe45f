import { BansAdditions } from '../features/feature';
import { Fail2banProps } from '../resolve/props';
import { resolveFail2ban } from '../resolve/resolve';

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
  /** Jail → the jail holding the same bans received from other nodes: listed and unbanned with it. */
  readonly mirrors: Readonly<Record<string, string>>;
  /** Records whose deletion unbans a mirrored jail's address everywhere. @default none */
  readonly ledger?: BansAdditions['ledger'];
}

/** Selector labels as `kubectl -l` takes them. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/**
 * The CLI's view of a deployment, resolved from the same props as the manifests, so the selector cannot drift from
 * the DaemonSet's. A jail's own ignoreIp replaces the defaults in fail2ban; refusing the union is the safe side.
 */
export function bansSettings(props: Fail2banProps): BansSettings {
  const config = resolveFail2ban(props);
  const enabled = props.jails.filter((jail) => jail.enabled !== false);
  const additions = config.features.map((feature) => feature.bans?.(config) ?? {});
  const ledger = additions.find((addition) => addition.ledger)?.ledger;
  return {
    namespace: config.namespace,
    selector: config.selectorLabels,
    jails: enabled.map((jail) => jail.name),
    ignoreIp: [...new Set([...config.neverBan, ...enabled.flatMap((jail) => jail.ignoreIp ?? [])])],
    mirrors: Object.assign({}, ...additions.map((addition) => addition.mirrors ?? {})),
    ...(ledger && { ledger }),
  };
}
