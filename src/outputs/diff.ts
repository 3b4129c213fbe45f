import * as fs from 'node:fs';
import * as path from 'node:path';

/** How one path differs between what is on disk and what synth would write. */
export interface FileChange {
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** Lines only in the new content and lines only in the old one. */
  readonly linesAdded: number;
  readonly linesRemoved: number;
}

/** Lines of `a` that `b` does not have, counting repeats. */
function linesMissingFrom(a: string[], b: string[]): number {
  const remaining = new Map<string, number>();
  for (const line of b) {
    remaining.set(line, (remaining.get(line) ?? 0) + 1);
  }
  return a.filter((line) => {
    const left = remaining.get(line) ?? 0;
    remaining.set(line, left - 1);
    return left <= 0;
  }).length;
}

/** The differences between two sets of files (path → content), sorted by path. */
export function diffFiles(before: Record<string, string>, after: Record<string, string>): FileChange[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return paths.flatMap((file): FileChange[] => {
    const old = before[file];
    const next = after[file];
    if (old === next) {
      return [];
    }
    const oldLines = old === undefined ? [] : old.split('\n');
    const newLines = next === undefined ? [] : next.split('\n');
    return [
      {
        path: file,
        change: old === undefined ? 'added' : next === undefined ? 'removed' : 'changed',
        linesAdded: linesMissingFrom(newLines, oldLines),
        linesRemoved: linesMissingFrom(oldLines, newLines),
      },
    ];
  });
}

/** The files of a directory (path → content, paths joined to `dir`), empty when it does not exist. */
export function readDir(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) {
    return {};
  }
  return Object.fromEntries(fs.readdirSync(dir).map((name) => [path.join(dir, name), fs.readFileSync(path.join(dir, name), 'utf8')]));
}

/** One line per change: `changed k3s/manifests/fail2ban/configmap.yaml (+1 -1 lines)`. */
export function formatChanges(changes: FileChange[]): string[] {
  return changes.map((c) => `${c.change} ${c.path} (+${c.linesAdded} -${c.linesRemoved} lines)`);
}
