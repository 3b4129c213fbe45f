import { PodLogSource } from '../../model/pod-log';
import { CONTAINER_LOG_DIR, HOST_LOG_DIR } from '../../model/log-path';
import { podNamePattern } from './pod-names';

/** Where the kubelet writes the containers' logs on every node. */
export const HOST_PODS_DIR = `${HOST_LOG_DIR}/pods`;

/**
 * Where fail2ban sees them (inside its mount of the host's /var/log), and where the agent and the broker, which mount
 * only this directory, see them too: the paths the agent hands to fail2ban are the ones it listed.
 */
export const CONTAINER_PODS_DIR = `${CONTAINER_LOG_DIR}/pods`;

/**
 * POD_LOGS, read by the node agent (which finds the files) and its broker (which lets the agent add and remove only
 * such files, only in these jails): {"dir": …, "jails": {JAIL: {"namespace", "pod", "container"}}}, `pod` a pattern
 * of the workload's pod names (pod-names.ts).
 */
export function podLogsEnvironment(jails: ReadonlyArray<{ readonly name: string; readonly podLogs: PodLogSource }>): string {
  const entries = jails.map((jail) => [jail.name, { namespace: jail.podLogs.namespace, pod: podNamePattern(jail.podLogs), container: jail.podLogs.container }]);
  return JSON.stringify({ dir: CONTAINER_PODS_DIR, jails: Object.fromEntries(entries) });
}
