import { readGenerated } from '../read/fail2ban';
import { objectId, objectLabel } from '../read/objects';
import { filterLines } from './changes/filters';
import { jailLines } from './changes/jails';
import { labelLines } from './changes/labels';
import { isUnchanged, objectLines, pairObjects } from './changes/objects';

/**
 * What a commit of regenerated manifests does to the cluster, in operators' terms: `jail.local` sections in file
 * order, filter files, then objects by kind and name (the DaemonSet's image, volumes, environment, and whether and
 * why its pods roll), label changes, and the objects left as they are; `['no change']` when nothing differs.
 * Both arguments are the manifests folder as file name → content, `before` empty when nothing was generated yet.
 * Read from the objects, not the text: a change to comments only is no change.
 */
export function summarizeChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  const [old, next] = [readGenerated(before), readGenerated(after)];
  const configMaps = new Set([old.configMap, next.configMap].flatMap((object) => (object ? [objectId(object)] : [])));
  const pairs = pairObjects(old.objects, next.objects);
  const lines = [
    ...jailLines(old.jailLocal, next.jailLocal),
    ...filterLines(old.filters, next.filters),
    ...pairs.flatMap((pair) => objectLines(pair, (object) => configMaps.has(objectId(object)))),
    ...labelLines(pairs),
  ];
  if (lines.length === 0) {
    return ['no change'];
  }
  const unchanged = pairs.filter(isUnchanged).map((pair) => objectLabel(pair.after!));
  return unchanged.length === 0 ? lines : [...lines, `no change to: ${unchanged.join(', ')}`];
}
