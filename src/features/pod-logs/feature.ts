import * as kplus from 'cdk8s-plus-28';
import { Fail2banFeature, ResolvedCore } from '../feature';
import { readsPodLogs } from '../../model/filter';
import { JailProps } from '../../model/jail';
import { PodLogSource, workloadKindOf } from '../../model/pod-log';
import { didYouMean } from '../../model/suggest';
import { CONTAINER_PODS_DIR, HOST_PODS_DIR, podLogsEnvironment } from './agent-settings';
import { maxWorkloadName, WORKLOAD_KINDS } from './pod-names';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

type PodLogJail = JailProps & { readonly podLogs: PodLogSource };

function podLogJails(config: ResolvedCore): PodLogJail[] {
  return config.jails.filter((jail): jail is PodLogJail => jail.podLogs !== undefined && (jail.enabled ?? true));
}

function checkSource(where: string, source: PodLogSource): string[] {
  const problems: string[] = [];
  if (!DNS_LABEL.test(source.namespace)) {
    problems.push(`${where}: podLogs.namespace "${source.namespace}" is not a namespace name (lower-case letters, digits and '-', at most 63). Fix: e.g. 'kube-system'.`);
  }
  if (!DNS_LABEL.test(source.container)) {
    problems.push(`${where}: podLogs.container "${source.container}" is not a container name (lower-case letters, digits and '-', at most 63). Fix: the name in the pod spec, e.g. 'traefik'.`);
  }
  if (!WORKLOAD_KINDS.includes(workloadKindOf(source))) {
    problems.push(`${where}: podLogs.workloadKind "${source.workloadKind}" is none of ${WORKLOAD_KINDS.join(', ')}.${didYouMean(String(source.workloadKind), WORKLOAD_KINDS)} Fix: name the kind of the workload that owns the pods.`);
  } else if (!DNS_SUBDOMAIN.test(source.workload) || source.workload.length > maxWorkloadName(workloadKindOf(source))) {
    problems.push(`${where}: podLogs.workload "${source.workload}" is not a ${workloadKindOf(source)} name whose pods keep it whole (lower-case letters, digits, '-' and '.', at most ${maxWorkloadName(workloadKindOf(source))}: Kubernetes cuts longer ones short in pod names). Fix: the workload's name as kubectl shows it, e.g. 'traefik'.`);
  }
  return problems;
}

function checkJail(jail: PodLogJail, config: ResolvedCore): string[] {
  const where = `jail "${jail.name}"`;
  const problems = checkSource(where, jail.podLogs);
  const filterName = jail.filter ?? jail.name;
  const filter = config.filters.find((file) => file.name === filterName);
  if (!filter || !readsPodLogs(filter)) {
    const podLogFilters = config.filters.filter(readsPodLogs).map((file) => file.name);
    problems.push(`${where}: filter "${filterName}" does not read pod logs: a pod-log filter includes cri.inc, which reads containerd's prefix and its UTC time (fail2ban's stock filters would read that time as local time, and see the prefix as the app's text). Fix: name one of ${podLogFilters.map((name) => `'${name}'`).join(', ') || 'the pod-log filters in filters/'}, or write filters/NAME.conf with "before = common.conf" and "cri.inc" (README: "Protecting apps behind Traefik").`);
  }
  if (jail.blocks !== 'host-and-forwarded') {
    problems.push(`${where}: reads pod logs, but its bans would block only the node's own services: traffic to pods (Traefik behind ServiceLB, NodePorts) is forwarded and passes a host-only ban. Fix: set blocks: 'host-and-forwarded'.`);
  }
  if (jail.port === undefined) {
    problems.push(`${where}: reads pod logs but names no port: its bans would block every port of the node, SSH and the API server included, for a failed app login. Fix: set port to the ports clients reach the app on, e.g. '80,443' for Traefik's entry points.`);
  }
  if (jail.logMayBeMissing) {
    problems.push(`${where}: logMayBeMissing is for host log files; a pod-log jail starts without files and the node agent adds them as pods come. Fix: drop logMayBeMissing.`);
  }
  return problems;
}

/**
 * Jails on pod logs (README: "Protecting apps behind Traefik"): fail2ban reads the containers' log files under the
 * kubelet's /var/log/pods, which come and go with pods, restarts and rotation, while fail2ban reads a jail's file
 * list only at start. The node agent keeps each jail's list equal to the files on its node through the broker
 * (`addlogpath`, `dellogpath`); the jail itself starts without a file.
 */
export function podLogsFeature(): Fail2banFeature {
  return {
    name: 'podLogs',
    validate: (config) => podLogJails(config).flatMap((jail) => checkJail(jail, config)),
    build: ({ daemonSet }, config) => {
      const environment = podLogsEnvironment(podLogJails(config));
      daemonSet.agent.env.addVariable('POD_LOGS', kplus.EnvValue.fromValue(environment));
      daemonSet.broker.env.addVariable('POD_LOGS', kplus.EnvValue.fromValue(environment));
      // The agent lists the directories' names (0755 as the kubelet makes them) and reads no log; the broker checks
      // that a file it lets fail2ban add is a plain file in plain directories.
      daemonSet.mountNodeAgentHostPath({ name: 'pod-logs', hostPath: HOST_PODS_DIR, containerPath: CONTAINER_PODS_DIR });
    },
  };
}
