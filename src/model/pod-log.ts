/** Kinds of workload whose pods' names the node agent can tell from the kubelet's log directories alone. */
export type PodLogWorkloadKind = 'Deployment' | 'DaemonSet' | 'StatefulSet';

/**
 * The container logs a jail reads instead of a host log file: one container of the pods of one workload, found on
 * each node by the node agent under the kubelet's `/var/log/pods` (README: "Protecting apps behind Traefik").
 *
 * The agent tells the pods by their names, as the directories show them: whoever may create pods in the namespace
 * can name one like the workload's and have the jail read what it prints, and so ban addresses on the jail's ports
 * (never the never-ban list). Choose a namespace where only the people you would let ban create pods.
 */
export interface PodLogSource {
  /** Namespace of the pods. */
  readonly namespace: string;
  /** Name of the workload that owns the pods (a Deployment's, a DaemonSet's or a StatefulSet's). */
  readonly workload: string;
  /** Kind of the workload: it decides how its pods are named. @default 'Deployment' (`workloadKindOf`) */
  readonly workloadKind?: PodLogWorkloadKind;
  /** Name of the container in those pods whose log the jail reads. */
  readonly container: string;
}

/** The kind of a source's workload. */
export function workloadKindOf(source: PodLogSource): PodLogWorkloadKind {
  return source.workloadKind ?? 'Deployment';
}

/**
 * The `logpath` of a pod-log jail before the agent adds its pods' files: fail2ban refuses to start a jail without a
 * file, and a jail named like one of its stock jails (`traefik-auth`) would read the stock jail's log path instead.
 * /dev/null exists everywhere and never holds a line.
 */
export const NO_LOG_FILE = '/dev/null';
