import { PodLogSource, PodLogWorkloadKind, workloadKindOf } from '../../model/pod-log';

/**
 * The letters Kubernetes draws generated name parts from (apimachinery's `rand.String`, `rand.SafeEncodeString`):
 * no vowels, no 0, 1, 3. A workload's own name almost always holds a vowel, so the suffix cannot be mistaken for it.
 */
export const GENERATED_LETTERS = 'bcdfghjklmnpqrstvwxz2456789';
const GENERATED = `[${GENERATED_LETTERS}]`;

/**
 * How each kind names its pods, and the longest workload name for which Kubernetes does not cut the name short
 * (a generated name is at most 58 characters before its 5 random ones).
 */
const POD_NAMES: Record<PodLogWorkloadKind, { readonly suffix: string; readonly maxWorkloadName: number }> = {
  // <deployment>-<pod-template-hash>-<5 random>: the hash is a 32-bit number in decimal, each digit encoded as one of
  // the letters above by its character code ('0'..'9' -> 4 5 6 7 8 9 b c d f), so a CronJob's or a Job's digits never fit
  Deployment: { suffix: `-[4-9bcdf]{1,10}-${GENERATED}{5}`, maxWorkloadName: 46 },
  // <daemonset>-<5 random>
  DaemonSet: { suffix: `-${GENERATED}{5}`, maxWorkloadName: 57 },
  // <statefulset>-<ordinal>; the controller-revision-hash label, <name>-<10 letters>, keeps the name within 52
  StatefulSet: { suffix: '-(?:0|[1-9][0-9]{0,5})', maxWorkloadName: 52 },
};

/** The longest workload name of a kind whose pods the pattern still finds. */
export function maxWorkloadName(kind: PodLogWorkloadKind): number {
  return POD_NAMES[kind].maxWorkloadName;
}

/** The kinds a source may name. */
export const WORKLOAD_KINDS = Object.keys(POD_NAMES) as PodLogWorkloadKind[];

/**
 * A regular expression (the syntax Python's `re` and JavaScript share) for the names of the source's pods, without
 * anchors: the node agent and its broker anchor it within the kubelet's directory name `<namespace>_<pod>_<uid>`.
 */
export function podNamePattern(source: PodLogSource): string {
  return source.workload.replace(/\./g, '\\.') + POD_NAMES[workloadKindOf(source)].suffix;
}
