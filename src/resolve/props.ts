import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { BanSharingOptions } from '../features/ban-sharing/options';
import { K3sTraefikOptions } from '../features/k3s-traefik/options';
import { MetricsOptions } from '../features/metrics/options';
import { Fail2banProbes, HostPathMount, SecurityMode } from '../k8s/daemon-set';
import { ClusterAddresses } from '../model/cluster';
import { TimeSpan } from '../model/duration';
import { FilterFile } from '../model/filter';
import { GithubWorkflowIdentity } from '../model/github-actions';
import { JailDefaults, JailProps } from '../model/jail';

/** fail2ban's log levels (`F2B_LOG_LEVEL`). */
export type LogLevel = 'CRITICAL' | 'ERROR' | 'WARNING' | 'NOTICE' | 'INFO' | 'DEBUG';

/** Props of {@link Fail2ban}: the typed settings `src/main.ts` writes. Every default is filled in by `resolveFail2ban`. */
export interface Fail2banProps {
  /** The jails, in `jail.local` order. */
  readonly jails: JailProps[];
  /** The `[DEFAULT]` section. @default fail2ban's own defaults */
  readonly defaults?: JailDefaults;
  /** Filter files shipped in the ConfigMap and mounted into `filter.d`. @default every `*.conf` in `filters/` */
  readonly filters?: FilterFile[];
  /** Namespace, created by this construct. @default 'fail2ban' */
  readonly namespace?: string;
  /** Name of the DaemonSet and `app.kubernetes.io/instance`; the ConfigMap is `<name>-config`. @default 'fail2ban' */
  readonly name?: string;
  /** Container image, pinned to a tag. @default 'crazymax/fail2ban:1.0.2' */
  readonly image?: string;
  /** Accept an image without a version tag (or `latest`), knowing nodes may then run different versions. @default false */
  readonly allowUnpinnedImage?: boolean;
  /** Accept host names in `ignoreIp`, knowing fail2ban resolves them through DNS at every ban. @default false */
  readonly allowHostnamesInIgnoreIp?: boolean;
  /** IANA time zone of the hosts' logs; must match them, or failures in local-time logs are silently not counted. @default 'UTC' */
  readonly timeZone?: string;
  /** fail2ban's log level. @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Age after which bans are purged from the database; at least the longest ban time. @default the longest ban time, at least 1 day */
  readonly dbPurgeAge?: TimeSpan;
  /** Taints the pods tolerate; `[kplus.NodeTaintQuery.any()]` runs on every node whatever its taints. @default control-plane NoSchedule */
  readonly tolerations?: kplus.NodeTaintQuery[];
  /** Requests and limits of the fail2ban container. @default 50m CPU and 64Mi memory requested, 256Mi memory limit */
  readonly resources?: kplus.ContainerResources;
  /** Timing of the fail2ban container's probes (`fail2ban-client ping`); unset fields keep their defaults. @default see `Fail2banProbes` */
  readonly probes?: Fail2banProbes;
  /** Further host paths mounted into the fail2ban container, e.g. another daemon's log directory. @default none */
  readonly hostPathMounts?: HostPathMount[];
  /** Host directory that keeps the ban database across pod restarts. @default '/var/lib/fail2ban' */
  readonly databaseHostPath?: string;
  /** Priority class of the pods. @default 'system-node-critical' */
  readonly priorityClassName?: string;
  /** Time fail2ban gets on stop to remove its nftables table. @default 30 seconds */
  readonly terminationGracePeriod?: Duration;
  /**
   * Access for the "Manage Fail2ban" workflow (`npm run bans`): its job's short-lived GitHub OIDC token, accepted by
   * the API server for this workflow alone (`k3s/host/authentication-config.yaml`), bound to what the CLI does.
   * @default none
   */
  readonly banManager?: { readonly github: GithubWorkflowIdentity };
  /** The cluster's pod and service networks and node addresses, never banned by any jail. @default none (synth warns) */
  readonly cluster?: ClusterAddresses;
  /** `net-admin` (NET_ADMIN alone) or `privileged` (the replaced deployment's privileged containers in the host PID namespace, for actions beyond nftables; see README). @default 'net-admin' */
  readonly securityMode?: SecurityMode;
  /** API group of the package's objects: operator bans, node reports, ban sharing's records. @default 'fail2ban.homelab.internal' */
  readonly apiGroup?: string;
  /** Cluster-wide ban sharing: a ban on one node is applied on every node (needs Kubernetes ≥ 1.31). @default off */
  readonly banSharing?: BanSharingOptions;
  /** k3s's Traefik set up for the Traefik jails: its HelmChartConfig (JSON access log on stdout, externalTrafficPolicy Local), opt-in. @default not managed (synth warns while a jail reads Traefik's pod log) */
  readonly k3sTraefik?: K3sTraefikOptions;
  /** The node agent's metrics on each node's cluster address, and, opt-in, a PodMonitor, alerts and a dashboard (README: "Metrics"). @default off */
  readonly metrics?: MetricsOptions;
}
