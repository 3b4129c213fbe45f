import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { enabledFeatures } from '../features/enabled';
import { Fail2banFeature, JailLocalAdditions, ResolvedCore } from '../features/feature';
import { NodeAgentSettings } from '../k8s/node-agent';
import { ipFamily } from '../model/ip';
import { Fail2banProbes, HostPathMount, SecurityMode } from '../k8s/daemon-set';
import { recommendedLabels, selectorLabels } from '../k8s/labels';
import { clusterRanges } from '../model/cluster';
import { banTimeSeconds, TimeSpan } from '../model/duration';
import { loadFilters } from '../model/filter';
import { githubActionsUser, ResolvedGithubWorkflow, resolveGithubWorkflow } from '../model/github-actions';
import { imageTag } from '../model/image';
import { JailDefaults, JailProps } from '../model/jail';
import { Fail2banProps, LogLevel } from './props';

/** Every default of {@link Fail2banProps}, in one place. */
export const DEFAULTS = {
  namespace: 'fail2ban',
  name: 'fail2ban',
  apiGroup: 'fail2ban.homelab.internal',
  image: 'crazymax/fail2ban:1.0.2',
  timeZone: 'UTC',
  logLevel: 'INFO' as LogLevel,
  /** The ban database outlives the longest (non-permanent) ban, and at least this. */
  minDbPurgeAge: Duration.days(1),
  tolerations: (): kplus.NodeTaintQuery[] => [
    kplus.NodeTaintQuery.exists('node-role.kubernetes.io/control-plane', { effect: kplus.TaintEffect.NO_SCHEDULE }),
  ],
  resources: (): kplus.ContainerResources => ({
    cpu: { request: kplus.Cpu.millis(50) },
    memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
  }),
  probes: (): Required<Fail2banProbes> => ({
    liveness: { initialDelaySeconds: Duration.seconds(30), periodSeconds: Duration.seconds(30), timeoutSeconds: Duration.seconds(10), failureThreshold: 3 },
    readiness: { initialDelaySeconds: Duration.seconds(5), periodSeconds: Duration.seconds(10), timeoutSeconds: Duration.seconds(10) },
  }),
  databaseHostPath: '/var/lib/fail2ban',
  priorityClassName: 'system-node-critical',
  terminationGracePeriod: Duration.seconds(30),
  securityMode: 'net-admin' as SecurityMode,
  /** The package's batching nftables action (actions/nftables-batch.py): fail2ban's own runs one process per ban. */
  banAction: 'nftables-batch',
};

/** {@link Fail2banProps} with every default filled in: what validation, the constructs and the ban CLI use. */
export interface ResolvedFail2ban extends ResolvedCore {
  readonly logLevel: LogLevel;
  readonly dbPurgeAge: TimeSpan;
  readonly tolerations: kplus.NodeTaintQuery[];
  readonly resources: kplus.ContainerResources;
  readonly probes: Required<Fail2banProbes>;
  readonly hostPathMounts: readonly HostPathMount[];
  readonly databaseHostPath: string;
  readonly priorityClassName: string;
  readonly terminationGracePeriod: Duration;
  readonly securityMode: SecurityMode;
  readonly allowUnpinnedImage: boolean;
  readonly allowHostnamesInIgnoreIp: boolean;
  /** The workflow that manages bans, and the user the API server knows it as; when there is one. */
  readonly banManager?: { readonly workflow: ResolvedGithubWorkflow; readonly user: string };
  /** The features the props turn on. */
  readonly features: readonly Fail2banFeature[];
}

/** Adds entries to a list once, keeping the first occurrence's place. */
function union(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  return [...new Set(lists.flatMap((list) => list ?? []))];
}

/** The ban database must outlive the longest (non-permanent) ban, or restarts forget bans. */
function defaultDbPurgeAge(defaults: JailDefaults, jails: readonly JailProps[]): Duration {
  const seconds = [defaults, ...jails]
    .map((settings) => (settings.banTime ? banTimeSeconds(settings.banTime) ?? 0 : 0))
    .filter(Number.isFinite);
  return Duration.seconds(Math.max(DEFAULTS.minDbPurgeAge.toSeconds(), ...seconds));
}

function banManagerOf(workflow: ResolvedGithubWorkflow): ResolvedFail2ban['banManager'] {
  return { workflow, user: githubActionsUser(workflow) };
}

/** Fills in every default, once; nothing is checked here (see `validateFail2ban`). */
export function resolveFail2ban(props: Fail2banProps): ResolvedFail2ban {
  const image = props.image ?? DEFAULTS.image;
  const name = props.name ?? DEFAULTS.name;
  // The cluster block joins every ignoreip list, the defaults' and each jail's own, which would otherwise replace them.
  const neverBan = union(props.defaults?.ignoreIp, props.cluster && clusterRanges(props.cluster));
  const defaults: JailDefaults = { banAction: DEFAULTS.banAction, ...props.defaults, ...(neverBan.length > 0 ? { ignoreIp: neverBan } : {}) };
  const jails = props.jails.map((jail) => (jail.ignoreIp ? { ...jail, ignoreIp: union(neverBan, jail.ignoreIp) } : jail));
  const app = { name: 'fail2ban', instance: name, version: imageTag(image) ?? 'latest', component: 'intrusion-prevention', partOf: 'fail2ban' };
  const probes = DEFAULTS.probes();
  return {
    namespace: props.namespace ?? DEFAULTS.namespace,
    apiGroup: props.apiGroup ?? DEFAULTS.apiGroup,
    name,
    image,
    timeZone: props.timeZone ?? DEFAULTS.timeZone,
    labels: recommendedLabels(app),
    selectorLabels: selectorLabels(app),
    defaults,
    jails,
    neverBan,
    cluster: props.cluster,
    filters: props.filters ?? loadFilters(),
    logLevel: props.logLevel ?? DEFAULTS.logLevel,
    dbPurgeAge: props.dbPurgeAge ?? defaultDbPurgeAge(defaults, jails),
    tolerations: props.tolerations ?? DEFAULTS.tolerations(),
    resources: props.resources ?? DEFAULTS.resources(),
    probes: { liveness: { ...probes.liveness, ...props.probes?.liveness }, readiness: { ...probes.readiness, ...props.probes?.readiness } },
    hostPathMounts: props.hostPathMounts ?? [],
    databaseHostPath: props.databaseHostPath ?? DEFAULTS.databaseHostPath,
    priorityClassName: props.priorityClassName ?? DEFAULTS.priorityClassName,
    terminationGracePeriod: props.terminationGracePeriod ?? DEFAULTS.terminationGracePeriod,
    securityMode: props.securityMode ?? DEFAULTS.securityMode,
    allowUnpinnedImage: props.allowUnpinnedImage ?? false,
    allowHostnamesInIgnoreIp: props.allowHostnamesInIgnoreIp ?? false,
    banManager: props.banManager && banManagerOf(resolveGithubWorkflow(props.banManager.github)),
    features: enabledFeatures(props),
  };
}

/**
 * What the node agent and its broker are told: the broker may list and unban in the configured jails, and ban only
 * in the jails features add (mirrors, operator jails), whose bans the agent holds; never an address of `neverBan`,
 * which is every jail's `ignoreIp` (a host name in it, allowed by an opt-in, cannot be checked there).
 */
export function nodeAgentSettings(config: ResolvedFail2ban, additions: readonly JailLocalAdditions[]): NodeAgentSettings {
  const enabled = config.jails.filter((jail) => jail.enabled ?? true);
  const held = additions.flatMap((addition) => addition.jails ?? []);
  const ranges = union(config.neverBan, ...enabled.map((jail) => jail.ignoreIp)).filter((entry) => ipFamily(entry.split('/')[0]) !== 0);
  return {
    namespace: config.namespace,
    group: config.apiGroup,
    neverBan: ranges,
    brokerJails: Object.fromEntries([
      ...enabled.map((jail) => [jail.name, ['get', 'unban']] as const),
      ...held.map((jail) => [jail.name, ['get', 'ban', 'unban']] as const),
    ]),
  };
}
