import { CONFIG_HASH_ANNOTATION } from '../../k8s/daemon-set';
import { Container, DaemonSetObject, EnvVar, VolumeMount, Volume, configHashOf, describeVolumeSource, mountMode } from '../../read/daemon-set';
import { ValueChange, deepDiff, formatValueChange, keyPath } from './deep-diff';

const TEMPLATE = 'spec.template';
const HASH_PATH = keyPath(`${TEMPLATE}.metadata.annotations`, CONFIG_HASH_ANNOTATION);

// Template paths the specific lines below describe; the rest is listed path by path. Labels have their own line
// (labels.ts), since every object carries the same ones.
const DESCRIBED = [
  /^spec\.template\.metadata\.labels\b/,
  /^spec\.template\.spec\.(initContainers|containers)\[[^\]]+\]\.(image|env|volumeMounts)\b/,
  /^spec\.template\.spec\.volumes\b/,
];

function isDescribed(change: ValueChange): boolean {
  return change.path === HASH_PATH || DESCRIBED.some((pattern) => pattern.test(change.path));
}

/** Items of two lists matched by a key, as `[key, before, after]` in the old order, then the new items. */
function matchBy<T>(before: T[] = [], after: T[] = [], key: (item: T) => string): Array<[string, T | undefined, T | undefined]> {
  const keys = [...new Set([...before, ...after].map(key))];
  return keys.map((k) => [k, before.find((item) => key(item) === k), after.find((item) => key(item) === k)]);
}

/** `volume x added (…)`, `volume x removed`, `volume x: a → b`, or nothing when equal. */
function itemChange<T>(what: string, before: T | undefined, after: T | undefined, describe: (item: T) => string): string[] {
  if (before === undefined) {
    return [`${what} added (${describe(after!)})`];
  }
  if (after === undefined) {
    return [`${what} removed`];
  }
  const [old, next] = [describe(before), describe(after)];
  return old === next ? [] : [`${what}: ${old} → ${next}`];
}

function describeMount(mount: VolumeMount): string {
  return `${mount.name}${mount.subPath === undefined ? '' : ` key ${mount.subPath}`}, ${mountMode(mount)}`;
}

function describeEnv(env: EnvVar): string {
  return env.value ?? JSON.stringify(env.valueFrom);
}

function allContainers(daemonSet: DaemonSetObject): Container[] {
  const pod = daemonSet.spec.template.spec;
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** Containers (init containers too) present in both templates, paired by name. */
function commonContainers(before: DaemonSetObject, after: DaemonSetObject): Array<[Container, Container]> {
  return matchBy(allContainers(before), allContainers(after), (c) => c.name).flatMap(([, old, next]) =>
    old && next ? [[old, next] as [Container, Container]] : [],
  );
}

/**
 * Items of all containers, each said once: an init container that runs the same image with the same setting
 * changes with the main one, and the image names say which container a differing change is about.
 */
function unique(items: string[]): string[] {
  return [...new Set(items)];
}

function imageItems(containers: Array<[Container, Container]>): string[] {
  return unique(containers.flatMap(([old, next]) => (old.image === next.image ? [] : [`image ${old.image} → ${next.image}`])));
}

function storageItems(before: DaemonSetObject, after: DaemonSetObject, containers: Array<[Container, Container]>): string[] {
  const volumes = matchBy<Volume>(before.spec.template.spec.volumes, after.spec.template.spec.volumes, (v) => v.name).flatMap(([name, old, next]) =>
    itemChange(`volume ${name}`, old, next, describeVolumeSource),
  );
  const mounts = containers.flatMap(([old, next]) =>
    matchBy(old.volumeMounts, next.volumeMounts, (m) => m.mountPath).flatMap(([path, o, n]) => itemChange(`mount ${path}`, o, n, describeMount)),
  );
  return unique([...volumes, ...mounts]);
}

function envItems(containers: Array<[Container, Container]>): string[] {
  return unique(
    containers.flatMap(([old, next]) => matchBy(old.env, next.env, (e) => e.name).flatMap(([name, o, n]) => itemChange(`env ${name}`, o, n, describeEnv))),
  );
}

function shortHash(hash: string | undefined): string {
  return hash === undefined ? '(none)' : `${hash.slice(0, 8)}…`;
}

/** `image, labels`: the parts of the pod template that changed, by their field names. */
function templateParts(changes: ValueChange[]): string[] {
  const parts = changes
    .filter((change) => change.path !== HASH_PATH)
    .map((change) => /^spec\.template\.(?:metadata\.|spec\.(?:initContainers|containers)\[[^\]]+\]\.|spec\.)?([A-Za-z]+)/.exec(change.path)?.[1] ?? change.path);
  return [...new Set(parts)];
}

/**
 * Why every pod is replaced, if it is: a new config hash (jail.local or a filter changed), other pod-template
 * changes, or both.
 */
export function rollItem(before: DaemonSetObject, after: DaemonSetObject): string[] {
  const [oldHash, newHash] = [configHashOf(before), configHashOf(after)];
  const parts = templateParts(deepDiff(before.spec.template, after.spec.template, TEMPLATE));
  const reasons = [
    ...(oldHash === newHash ? [] : [`config hash ${shortHash(oldHash)} → ${shortHash(newHash)}`]),
    ...(parts.length === 0 ? [] : [`pod template: ${parts.join(', ')}`]),
  ];
  return reasons.length === 0 ? [] : [`pods will roll on every node (${reasons.join('; ')})`];
}

/**
 * What changes for the pods of a DaemonSet present before and after: image, volumes and mounts, environment, and any
 * other pod-template field by path. Fields outside the template are left to the generic line.
 */
export function podTemplateItems(before: DaemonSetObject, after: DaemonSetObject): string[] {
  const containers = commonContainers(before, after);
  const others = deepDiff(before.spec.template, after.spec.template, TEMPLATE)
    .filter((change) => !isDescribed(change))
    .map(formatValueChange);
  return [
    ...imageItems(containers),
    ...storageItems(before, after, containers),
    ...envItems(containers),
    ...others,
  ];
}
