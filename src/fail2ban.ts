import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { ClusterAddresses, clusterRanges } from './model/cluster';
import { TimeSpan, banTimeSeconds, renderDuration } from './model/duration';
import { Fail2banConfigError } from './model/errors';
import { FilterFile, filterFileName, loadFilters } from './model/filter';
import { JailDefaults, JailProps } from './model/jail';
import { imageTag } from './model/image';
import { renderJailLocal } from './render/jail-local';
import { configWarnings, validateConfig } from './validate/validate';
import { BanManagerAccess } from './k8s/ban-manager';
import { Fail2banConfigMap } from './k8s/config-map';
import { BanLedger } from './features/ban-sharing/ledger';
import { mirrorBanTimeSeconds, mirrorJail } from './features/ban-sharing/mirrors';
import { BanSharingOptions, ResolvedBanSharing, resolveBanSharing } from './features/ban-sharing/options';
import { PUBLISH_ACTION_KEY, publishAction } from './features/ban-sharing/publish-action';
import { RUN_DIR, SIDECAR_PROGRAM_KEY, sidecarContainer, sidecarProgram, stateVolume, tokenVolume } from './features/ban-sharing/sidecar';
import { Fail2banDaemonSet, SecurityMode } from './k8s/daemon-set';
import { AppLabels, recommendedLabels, selectorLabels } from './k8s/labels';
import { PrivilegedNamespace } from './k8s/namespace';

/** fail2ban's log levels (`F2B_LOG_LEVEL`). */
export type LogLevel = 'CRITICAL' | 'ERROR' | 'WARNING' | 'NOTICE' | 'INFO' | 'DEBUG';

/** Props of {@link Fail2ban}. */
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
  /** Host directory that keeps the ban database across pod restarts. @default '/var/lib/fail2ban' */
  readonly databaseHostPath?: string;
  /** Priority class of the pods. @default 'system-node-critical' */
  readonly priorityClassName?: string;
  /** Time fail2ban gets on stop to remove its nftables table. @default 30 seconds */
  readonly terminationGracePeriod?: Duration;
  /** Access for the "Manage Fail2ban" runner (`npm run bans`): a ServiceAccount limited to what the CLI does. @default none */
  readonly banManager?: { readonly serviceAccountName?: string };
  /** The cluster's pod and service networks and node addresses, never banned by any jail. @default none (synth warns) */
  readonly cluster?: ClusterAddresses;
  /** `privileged` (privileged container, host PID namespace) or `net-admin` (only NET_ADMIN and NET_RAW, see README). @default 'privileged' */
  readonly securityMode?: SecurityMode;
  /** Cluster-wide ban sharing: a ban on one node is applied on every node (needs Kubernetes ≥ 1.31). @default off */
  readonly banSharing?: BanSharingOptions;
}

export const DEFAULT_IMAGE = 'crazymax/fail2ban:1.0.2';
const MIN_DB_PURGE_AGE = Duration.days(1);

/** Adds entries to a list once, keeping the first occurrence's place. */
function union(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  return [...new Set(lists.flatMap((list) => list ?? []))];
}

/** The ban database must outlive the longest (non-permanent) ban, or restarts forget bans. */
function defaultDbPurgeAge(defaults: JailDefaults, jails: readonly JailProps[]): Duration {
  const seconds = [defaults, ...jails]
    .map((settings) => (settings.banTime ? banTimeSeconds(settings.banTime) ?? 0 : 0))
    .filter(Number.isFinite);
  return Duration.seconds(Math.max(MIN_DB_PURGE_AGE.toSeconds(), ...seconds));
}

/**
 * fail2ban on every node of a k3s cluster: a privileged namespace, a ConfigMap with `jail.local` and the filters,
 * and a DaemonSet that rolls its pods whenever that ConfigMap's content changes.
 */
export class Fail2ban extends Construct {
  /** The namespace everything lives in. */
  public readonly namespace: string;
  /** Labels that select the fail2ban pods (for `kubectl get pods -l`). */
  public readonly selectorLabels: Record<string, string>;
  /** The rendered `jail.local`. */
  public readonly jailLocal: string;
  /** Addresses and ranges no jail bans: the defaults' `ignoreIp` and the cluster block (the ban CLI refuses them too). */
  public readonly neverBan: string[];
  /** What synth should tell the user without refusing the configuration. */
  public readonly warnings: string[];
  /** Ban sharing with its defaults filled in; undefined without sharing. */
  public readonly banSharing?: ResolvedBanSharing;
  /** The DaemonSet, as Flux health checks and other tools refer to it. */
  public readonly daemonSetRef: { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly namespace: string };

  constructor(scope: Construct, id: string, props: Fail2banProps) {
    super(scope, id);
    const namespace = props.namespace ?? 'fail2ban';
    const name = props.name ?? 'fail2ban';
    const image = props.image ?? DEFAULT_IMAGE;
    // The cluster block joins every ignoreip list, the defaults' and each jail's own, which would otherwise replace them.
    const neverBan = union(props.defaults?.ignoreIp, props.cluster && clusterRanges(props.cluster));
    const defaults: JailDefaults = { ...props.defaults, ...(neverBan.length > 0 ? { ignoreIp: neverBan } : {}) };
    const jails = props.jails.map((jail) => (jail.ignoreIp ? { ...jail, ignoreIp: union(neverBan, jail.ignoreIp) } : jail));
    const filters = props.filters ?? loadFilters();
    const timeZone = props.timeZone ?? 'UTC';
    const logLevel = props.logLevel ?? 'INFO';
    const dbPurgeAge = props.dbPurgeAge ?? defaultDbPurgeAge(defaults, jails);
    const tolerations = props.tolerations ?? [
      kplus.NodeTaintQuery.exists('node-role.kubernetes.io/control-plane', { effect: kplus.TaintEffect.NO_SCHEDULE }),
    ];
    const problems = validateConfig({
      defaults,
      jails,
      filters,
      image,
      timeZone,
      dbPurgeAge: props.dbPurgeAge,
      allowUnpinnedImage: props.allowUnpinnedImage ?? false,
      allowHostnamesInIgnoreIp: props.allowHostnamesInIgnoreIp ?? false,
      cluster: props.cluster,
      banSharing: props.banSharing,
    });
    if (problems.length > 0) {
      throw new Fail2banConfigError(problems);
    }
    const resources = props.resources ?? {
      cpu: { request: kplus.Cpu.millis(50) },
      memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
    };

    const app: AppLabels = { name: 'fail2ban', instance: name, version: imageTag(image) ?? 'latest', component: 'intrusion-prevention', partOf: 'fail2ban' };
    const labels = recommendedLabels(app);
    this.namespace = namespace;
    this.selectorLabels = selectorLabels(app);
    const shared = jails.filter((jail) => props.banSharing?.jails.includes(jail.name));
    const sharing = props.banSharing && resolveBanSharing(props.banSharing);
    this.jailLocal = renderJailLocal(
      defaults,
      jails,
      sharing && { published: new Set(shared.map((jail) => jail.name)), mirrors: shared.map((jail) => mirrorJail(jail, defaults)) },
    );
    this.neverBan = neverBan;
    this.banSharing = sharing;
    this.warnings = configWarnings({ jails, cluster: props.cluster });
    this.daemonSetRef = { apiVersion: 'apps/v1', kind: 'DaemonSet', name, namespace };

    new PrivilegedNamespace(this, 'Namespace', { name: namespace, labels });
    if (props.banManager) {
      new BanManagerAccess(this, 'BanManager', {
        namespace,
        labels,
        serviceAccountName: props.banManager.serviceAccountName,
        banGroup: sharing?.group,
      });
    }

    const files: Record<string, string> = { 'jail.local': this.jailLocal };
    for (const filter of filters) {
      files[filterFileName(filter)] = filter.content;
    }
    if (sharing) {
      files[PUBLISH_ACTION_KEY] = publishAction();
      files[SIDECAR_PROGRAM_KEY] = sidecarProgram();
    }
    const config = new Fail2banConfigMap(this, 'Config', { name: `${name}-config`, namespace, files, labels });

    const daemonSet = new Fail2banDaemonSet(this, 'DaemonSet', {
      name,
      namespace,
      image,
      labels,
      selectorLabels: this.selectorLabels,
      env: {
        TZ: timeZone,
        F2B_LOG_TARGET: 'STDOUT',
        F2B_LOG_LEVEL: logLevel,
        F2B_DB_PURGE_AGE: renderDuration(dbPurgeAge),
      },
      tolerations,
      resources,
      databaseHostPath: props.databaseHostPath ?? '/var/lib/fail2ban',
      priorityClassName: props.priorityClassName ?? 'system-node-critical',
      terminationGracePeriod: props.terminationGracePeriod ?? Duration.seconds(30),
      config,
      securityMode: props.securityMode ?? 'privileged',
    });
    daemonSet.addConfigFile('jail.local', '/data/jail.d/jail.local');
    for (const filter of filters) {
      daemonSet.addConfigFile(filterFileName(filter), `/data/filter.d/${filterFileName(filter)}`);
    }
    if (sharing) {
      const serviceAccountName = name;
      new BanLedger(this, 'BanLedger', { namespace, serviceAccountName, group: sharing.group, labels });
      daemonSet.useServiceAccount(serviceAccountName);
      daemonSet.addConfigFile(PUBLISH_ACTION_KEY, `/data/action.d/${PUBLISH_ACTION_KEY}`);
      const run = daemonSet.addSharedDir('run', RUN_DIR);
      const token = 'ban-sharing-token';
      const state = 'ban-sharing-state';
      daemonSet.addSidecar(
        sidecarContainer({
          image,
          namespace,
          group: sharing.group,
          timeZone,
          sharedJails: Object.fromEntries(shared.map((jail) => [jail.name, { mirror: sharing.mirrors[jail.name], maxBanTime: mirrorBanTimeSeconds(jail, defaults) }])),
          neverBan,
          rateLimitPerMinute: sharing.rateLimitPerMinute,
          volumes: { run, token, config: daemonSet.configVolumeName, state },
        }),
        [tokenVolume(token), stateVolume(state)],
      );
    }
    const optionalLogs = jails.filter((jail) => (jail.enabled ?? true) && jail.logMayBeMissing).flatMap((jail) => [jail.logPath].flat());
    for (const containerPath of [...new Set(optionalLogs)].sort()) {
      daemonSet.addOptionalHostLog(containerPath);
    }
  }
}
