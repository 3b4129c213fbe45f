import { NodeInfo, PodInfo } from './kubectl';

/** A fail2ban pod that can take commands, and the node it protects. */
export interface PodTarget {
  readonly node: string;
  readonly pod: string;
}

/** A node that should run fail2ban but has no pod that can take commands. */
export interface NodeGap {
  readonly node: string;
  readonly reason: string;
}

/** Which nodes a command reaches. */
export interface Coverage {
  /** Ready pods, one row per pod, ordered by node. */
  readonly targets: PodTarget[];
  /** Schedulable nodes without a ready pod: a ban or unban does not reach them. */
  readonly gaps: NodeGap[];
  /** Cordoned nodes without a ready pod: expected to be out of service, so not a failure. */
  readonly cordoned: string[];
}

function usable(pod: PodInfo): pod is PodInfo & { readonly node: string } {
  return pod.phase === 'Running' && pod.ready && !pod.terminating && pod.node !== undefined;
}

function whyNotUsable(pod: PodInfo): string {
  if (pod.terminating) {
    return `pod ${pod.name} is terminating`;
  }
  return pod.phase === 'Running' ? `pod ${pod.name} is Running but not Ready` : `pod ${pod.name} is ${pod.phase}`;
}

function gapReason(podsOnNode: readonly PodInfo[]): string {
  return podsOnNode.length === 0 ? 'no fail2ban pod on this node' : podsOnNode.map(whyNotUsable).join('; ');
}

/**
 * Every schedulable node must have a Running, Ready fail2ban pod. Nodes are "schedulable" unless cordoned; a taint
 * the DaemonSet does not tolerate also keeps its pod away, and then shows up here as a gap on purpose.
 */
export function coverage(nodes: readonly NodeInfo[], pods: readonly PodInfo[]): Coverage {
  const targets = pods
    .filter(usable)
    .map((pod) => ({ node: pod.node, pod: pod.name }))
    .sort((a, b) => a.node.localeCompare(b.node) || a.pod.localeCompare(b.pod));
  const uncovered = nodes.filter((node) => !targets.some((target) => target.node === node.name));
  return {
    targets,
    gaps: uncovered
      .filter((node) => node.schedulable)
      .map((node) => ({ node: node.name, reason: gapReason(pods.filter((pod) => pod.node === node.name)) })),
    cordoned: uncovered.filter((node) => !node.schedulable).map((node) => node.name),
  };
}
