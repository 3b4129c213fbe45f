import { isDeepStrictEqual } from 'node:util';
import { asDaemonSet } from '../../read/daemon-set';
import { K8sObject, objectId, objectLabel } from '../../read/objects';
import { podTemplateItems, rollItem } from './daemon-set';
import { changedParts } from './generic';

/** One object in the old and the new files, either side missing when it was added or removed. */
export interface ObjectPair {
  readonly before?: K8sObject;
  readonly after?: K8sObject;
}

function sortKey(object: K8sObject): string[] {
  return [object.kind, object.metadata?.name ?? '', object.metadata?.namespace ?? ''];
}

function compareObjects(a: K8sObject, b: K8sObject): number {
  const [x, y] = [sortKey(a), sortKey(b)];
  const i = x.findIndex((part, n) => part !== y[n]);
  return i < 0 ? 0 : x[i] < y[i] ? -1 : 1;
}

/** Old and new objects matched by kind, namespace and name, sorted by kind and name. */
export function pairObjects(before: K8sObject[], after: K8sObject[]): ObjectPair[] {
  const ids = [...new Set([...before, ...after].map(objectId))];
  return ids
    .map((id) => ({ before: before.find((o) => objectId(o) === id), after: after.find((o) => objectId(o) === id) }))
    .sort((a, b) => compareObjects((a.after ?? a.before)!, (b.after ?? b.before)!));
}

/** An object present before and after, and the same. */
export function isUnchanged(pair: ObjectPair): boolean {
  return pair.before !== undefined && isDeepStrictEqual(pair.before, pair.after);
}

function where(object: K8sObject): string {
  return object.metadata?.namespace === undefined ? '' : ` (namespace ${object.metadata.namespace})`;
}

/** The object without what other lines describe: the config ConfigMap's data, a DaemonSet's pod template. */
function withoutDescribed(object: K8sObject, isDescribed: (object: K8sObject) => boolean): K8sObject {
  const withoutData = isDescribed(object) ? { ...object, data: undefined } : object;
  const daemonSet = asDaemonSet(object);
  return daemonSet ? { ...withoutData, spec: { ...daemonSet.spec, template: undefined } } : withoutData;
}

/**
 * The lines of one object that was added, removed or changed; none when it is unchanged. `isDescribed` tells the
 * ConfigMap whose data the jail and filter lines already describe.
 */
export function objectLines(pair: ObjectPair, isDescribed: (object: K8sObject) => boolean): string[] {
  const { before, after } = pair;
  if (isUnchanged(pair)) {
    return [];
  }
  if (before === undefined || after === undefined) {
    const object = (after ?? before)!;
    return [`${objectLabel(object)}: ${after ? 'added' : 'removed'}${where(object)}`];
  }
  const [oldDaemonSet, newDaemonSet] = [asDaemonSet(before), asDaemonSet(after)];
  const bothDaemonSets = oldDaemonSet && newDaemonSet ? ([oldDaemonSet, newDaemonSet] as const) : undefined;
  const parts = changedParts(withoutDescribed(before, isDescribed), withoutDescribed(after, isDescribed));
  const items = [
    ...(bothDaemonSets ? podTemplateItems(...bothDaemonSets) : []),
    ...(parts.length === 0 ? [] : [`changed (${parts.join(', ')})`]),
    ...(bothDaemonSets ? rollItem(...bothDaemonSets) : []),
  ];
  return items.map((item) => `${objectLabel(after)}: ${item}`);
}
