import * as kplus from 'cdk8s-plus-28';
import { Fail2banFeature, ResolvedCore } from '../feature';
import { JAIL_NAME, JailProps } from '../../model/jail';
import { didYouMean } from '../../model/suggest';
import { BanLedger } from './ledger';
import { mirrorBanTimeSeconds, mirrorJail } from './mirrors';
import { BanSharingOptions, MIN_KUBERNETES_VERSION, mirrorJailName, parseKubernetesVersion, resolveBanSharing } from './options';
import { PUBLISH_ACTION, PUBLISH_ACTION_KEY, publishAction } from './publish-action';
import { OUTBOX_DIR, sharingEnvironment, STATE_DIR, STATE_HOST_DIR } from './agent-settings';

/** Problems of the sharing settings against the resolved jails and cluster block. */
function validateSharing(sharing: BanSharingOptions, config: ResolvedCore): string[] {
  const problems: string[] = [];
  const version = parseKubernetesVersion(sharing.kubernetesVersion);
  const [major, minor] = MIN_KUBERNETES_VERSION;
  if (!version || version[0] < major || (version[0] === major && version[1] < minor)) {
    problems.push(`banSharing: kubernetesVersion "${sharing.kubernetesVersion}" is below ${major}.${minor}: sharing needs CEL IP functions in CRD rules and node names in ServiceAccount tokens. Fix: upgrade k3s to v${major}.${minor} or newer and declare it, or turn sharing off.`);
  }
  if (!config.cluster || config.cluster.nodeAddresses.length === 0) {
    problems.push('banSharing: no never-ban list that covers the nodes; a node banned cluster-wide could lose the API server that would unban it. Fix: set cluster: { nodeAddresses: [every node address or their subnet] }.');
  }
  if (sharing.jails.length === 0) {
    problems.push("banSharing: no jail is shared. Fix: list the jails whose bans every node applies, e.g. jails: ['sshd'].");
  }
  const enabled = new Set(config.jails.filter((jail) => jail.enabled ?? true).map((jail) => jail.name));
  for (const jail of sharing.jails) {
    if (!enabled.has(jail)) {
      problems.push(`banSharing: jail "${jail}" is not an enabled jail.${didYouMean(jail, [...enabled])} Fix: share only enabled jails.`);
    } else if (enabled.has(mirrorJailName(jail)) || !JAIL_NAME.test(mirrorJailName(jail))) {
      problems.push(`banSharing: jail "${jail}" cannot get its mirror jail "${mirrorJailName(jail)}" (taken, or longer than 32 characters). Fix: rename the jail.`);
    }
  }
  for (const [key, value, example] of [['rateLimitPerMinute', sharing.rateLimitPerMinute, 60], ['maxRecordsPerNode', sharing.maxRecordsPerNode, 5000], ['maxRecords', sharing.maxRecords, 20000]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      problems.push(`banSharing: ${key} ${value} is not a whole number of at least 1. Fix: e.g. ${example}.`);
    }
  }
  return problems;
}

/**
 * Cluster-wide ban sharing (docs/ban-sharing.md): each shared jail publishes its bans through the publish action, the
 * agent writes them to the ledger (`Ban` objects) and applies the other nodes' records to the jail's mirror.
 */
export function banSharingFeature(options: BanSharingOptions): Fail2banFeature {
  const sharing = resolveBanSharing(options);
  const shared = (config: ResolvedCore): JailProps[] => config.jails.filter((jail) => options.jails.includes(jail.name));
  return {
    name: 'banSharing',
    validate: (config) => validateSharing(options, config),
    jailLocal: (config) => ({
      actions: Object.fromEntries(shared(config).map((jail) => [jail.name, [PUBLISH_ACTION]])),
      jails: shared(config).map((jail) => mirrorJail(jail, config.defaults)),
    }),
    build: ({ scope, daemonSet, configMap }, config) => {
      new BanLedger(scope, 'BanLedger', { namespace: config.namespace, serviceAccountName: daemonSet.serviceAccountName, group: config.apiGroup, labels: config.labels, maxRecords: sharing.maxRecords });
      configMap.addFile(PUBLISH_ACTION_KEY, publishAction());
      daemonSet.mountConfigFile(PUBLISH_ACTION_KEY, `/data/action.d/${PUBLISH_ACTION_KEY}`);
      const environment = sharingEnvironment({
        sharedJails: Object.fromEntries(shared(config).map((jail) => [jail.name, { mirror: sharing.mirrors[jail.name], maxBanTime: mirrorBanTimeSeconds(jail, config.defaults) }])),
        rateLimitPerMinute: sharing.rateLimitPerMinute,
        maxRecordsPerNode: sharing.maxRecordsPerNode,
      });
      for (const [name, value] of Object.entries(environment)) daemonSet.agent.env.addVariable(name, kplus.EnvValue.fromValue(value));
      daemonSet.mountAgentHostDirectory({ name: 'ban-sharing-state', hostPath: STATE_HOST_DIR, containerPath: STATE_DIR });
      daemonSet.shareWithAgent('outbox', OUTBOX_DIR);
    },
    bans: () => ({ mirrors: sharing.mirrors }),
  };
}
