import { diffFiles } from '../diff';

/** One line per filter file (ConfigMap key) added, removed or changed, sorted by file name. */
export function filterLines(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  return diffFiles(Object.fromEntries(before), Object.fromEntries(after)).map((change) =>
    change.change === 'changed'
      ? `filter ${change.path}: changed (+${change.linesAdded} -${change.linesRemoved} lines)`
      : `filter ${change.path}: ${change.change}`,
  );
}
