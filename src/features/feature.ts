import { Construct } from 'constructs';
import { BanManagerAccess } from '../k8s/ban-manager';
import { Fail2banConfigMap } from '../k8s/config-map';
import { Fail2banDaemonSet } from '../k8s/daemon-set';
import { ClusterAddresses } from '../model/cluster';
import { FilterFile } from '../model/filter';
import { JailDefaults, JailProps } from '../model/jail';

/** What every feature sees of the resolved configuration (`resolveFail2ban`): every default filled in. */
export interface ResolvedCore {
  /** Namespace of every object. */
  readonly namespace: string;
  /** API group of the package's own objects (operator bans, node reports, shared ban records). */
  readonly apiGroup: string;
  /** Name of the DaemonSet and `app.kubernetes.io/instance`. */
  readonly name: string;
  /** The pinned fail2ban image, which a feature's containers run too. */
  readonly image: string;
  /** The hosts' time zone. */
  readonly timeZone: string;
  /** The recommended labels of every object. */
  readonly labels: Record<string, string>;
  /** The labels that select the pods (immutable once applied). */
  readonly selectorLabels: Record<string, string>;
  /** `[DEFAULT]`, its `ignoreIp` the never-ban list. */
  readonly defaults: JailDefaults;
  /** The jails, each jail-level `ignoreIp` joined with the never-ban list. */
  readonly jails: readonly JailProps[];
  /** Addresses and ranges no jail bans: the defaults' `ignoreIp` and the cluster block. */
  readonly neverBan: readonly string[];
  /** The cluster block, if set. */
  readonly cluster?: ClusterAddresses;
  /** The filters shipped in the ConfigMap (`filters/`). */
  readonly filters: readonly FilterFile[];
}

/** What a feature adds to `jail.local`. */
export interface JailLocalAdditions {
  /** Actions appended to a jail's ban action, by jail name. @default none */
  readonly actions?: Readonly<Record<string, readonly string[]>>;
  /** Jail sections rendered after the configured jails. @default none */
  readonly jails?: readonly JailProps[];
}

/** Where a feature builds: the top construct's scope and the parts it may extend. */
export interface FeatureTargets {
  /** The scope for the feature's own constructs. */
  readonly scope: Construct;
  /** The DaemonSet: further containers, mounts, volumes. */
  readonly daemonSet: Fail2banDaemonSet;
  /** The ConfigMap: further files (their content is part of the hash that rolls the pods). */
  readonly configMap: Fail2banConfigMap;
  /** The ban manager's access, when the configuration has one. */
  readonly banManager?: BanManagerAccess;
  /** Every jail fail2ban runs: the enabled configured ones, then the features' (operator jails, mirrors). */
  readonly jails: readonly string[];
}

/** What `npm run bans` must know of a feature. */
export interface BansAdditions {
  /** Jail → the jail that holds the same bans received from other nodes: listed and unbanned with it. @default none */
  readonly mirrors?: Readonly<Record<string, string>>;
  /** Jail → the jail that holds the operator's bans of it: listed with it. @default none */
  readonly operatorJails?: Readonly<Record<string, string>>;
}

/**
 * A part of the deployment beyond the core (namespace, ConfigMap, DaemonSet): operator bans, ban sharing, pod-log
 * jails, k3s's Traefik, metrics. Each plugs in here and nowhere else: it checks its own settings,
 * adds to `jail.local`, builds its objects, and tells the ban CLI what it needs.
 */
export interface Fail2banFeature {
  /** Names the feature in messages. */
  readonly name: string;
  /** Problems of its settings, each naming the setting, the bad value and the fix. */
  validate?(config: ResolvedCore): string[];
  /** Settings that work but may hurt, printed by synth without refusing. */
  warnings?(config: ResolvedCore): string[];
  /** What it adds to `jail.local`. */
  jailLocal?(config: ResolvedCore): JailLocalAdditions;
  /** Builds its objects, containers, mounts and files, once the core exists. */
  build?(targets: FeatureTargets, config: ResolvedCore): void;
  /** What the ban CLI must know of it. */
  bans?(config: ResolvedCore): BansAdditions;
}
