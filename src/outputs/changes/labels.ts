import { K8sObject, objectLabel } from '../../read/objects';
import { ObjectPair } from './objects';

type Labels = Record<string, string> | undefined;

/** The object's labels and, for a workload, its pods' (which the same construct sets alike). */
function labelSets(object: K8sObject): Labels[] {
  const template = (object.spec as { template?: { metadata?: { labels?: Labels } } } | undefined)?.template;
  return [object.metadata?.labels, template?.metadata?.labels];
}

function labelChanges(before: Labels = {}, after: Labels = {}): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((key) => before[key] !== after[key]).map((key) => `${key} ${before[key] ?? '(none)'} → ${after[key] ?? '(none)'}`);
}

/**
 * One line per label change, naming every object it touches: an image bump changes the version label of every
 * object at once, which per object would bury the lines that matter.
 */
export function labelLines(pairs: ObjectPair[]): string[] {
  const objectsByChange = new Map<string, string[]>();
  for (const { before, after } of pairs) {
    if (before === undefined || after === undefined) {
      continue;
    }
    const [old, next] = [labelSets(before), labelSets(after)];
    const changes = new Set(old.flatMap((labels, i) => labelChanges(labels, next[i])));
    for (const change of changes) {
      objectsByChange.set(change, [...(objectsByChange.get(change) ?? []), objectLabel(after)]);
    }
  }
  return [...objectsByChange].map(([change, objects]) => `label ${change} on ${objects.join(', ')}`);
}
