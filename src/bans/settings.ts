import { Fail2banProps } from '../resolve/props';
import { resolveFail2ban } from '../resolve/resolve';
import { jailBanTimeSeconds } from '../model/duration';

/** What the ban CLI needs to know about the deployed fail2ban. */
export interface BansSettings {
  /** Namespace of the DaemonSet and of the ban objects: the default of `--namespace`. */
  readonly namespace: string;
  /** API group of `OperatorBan` and `Fail2banNode` (docs/operator-bans.md). */
  readonly group: string;
  /** Names of the enabled jails: the only values `--jail` accepts. */
  readonly jails: string[];
  /** Addresses and CIDR ranges no jail may ban: `ignoreIp` of the defaults, the cluster block, every enabled jail's. */
  readonly ignoreIp: string[];
  /** Jail → the jail holding the same bans received from other nodes: listed with it. */
  readonly mirrors: Readonly<Record<string, string>>;
  /** Jail → the jail holding the operator's bans of it: listed with it. */
  readonly operatorJails: Readonly<Record<string, string>>;
  /** Jail → seconds of a `ban` without `--for`: the jail's own ban time; -1 permanent. */
  readonly banTimes: Readonly<Record<string, number>>;
}

/**
 * The CLI's view of a deployment, resolved from the same props as the manifests, so the group and jails cannot
 * drift from the CRD's. A jail's own ignoreIp replaces the defaults in fail2ban; refusing the union is the safe side.
 */
export function bansSettings(props: Fail2banProps): BansSettings {
  const config = resolveFail2ban(props);
  const enabled = config.jails.filter((jail) => jail.enabled !== false);
  const additions = config.features.map((feature) => feature.bans?.(config) ?? {});
  return {
    namespace: config.namespace,
    group: config.apiGroup,
    jails: enabled.map((jail) => jail.name),
    ignoreIp: [...new Set([...config.neverBan, ...enabled.flatMap((jail) => jail.ignoreIp ?? [])])],
    mirrors: Object.assign({}, ...additions.map((addition) => addition.mirrors ?? {})),
    operatorJails: Object.assign({}, ...additions.map((addition) => addition.operatorJails ?? {})),
    banTimes: Object.fromEntries(enabled.map((jail) => [jail.name, jailBanTimeSeconds(jail.banTime ?? config.defaults.banTime)])),
  };
}
