import * as fs from 'node:fs';
import * as path from 'node:path';

/** Whether a directory holds exactly these files with exactly these bytes. */
export function sameTree(dir: string, files: Record<string, string>): boolean {
  if (!fs.existsSync(dir)) {
    return false;
  }
  const present = fs.readdirSync(dir).sort();
  const wanted = Object.keys(files).sort();
  return (
    present.length === wanted.length &&
    present.every((name, i) => name === wanted[i] && fs.readFileSync(path.join(dir, name), 'utf8') === files[name])
  );
}

/** Leftovers of an interrupted write, which sit beside the output directory. */
function scratchPrefix(dir: string): string {
  return `.${path.basename(dir)}.synth-`;
}

function removeLeftovers(dir: string): void {
  const parent = path.dirname(dir);
  for (const entry of fs.readdirSync(parent)) {
    if (entry.startsWith(scratchPrefix(dir))) {
      fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Replaces a directory's content with `files`, or leaves it untouched when it already matches.
 *
 * The new tree is written completely in a scratch directory beside the target and then swapped in by two renames,
 * so a reader never sees a mix of old and new files; files that are no longer produced disappear with the old tree.
 * A crash between the two renames leaves no directory at all (never a half-written one) and the next run recovers.
 *
 * @returns whether anything was written
 */
export function writeTreeAtomically(dir: string, files: Record<string, string>): boolean {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  removeLeftovers(path.resolve(dir));
  if (sameTree(dir, files)) {
    return false;
  }
  const scratch = fs.mkdtempSync(path.join(parent, scratchPrefix(dir)));
  try {
    const next = path.join(scratch, 'next');
    const previous = path.join(scratch, 'previous');
    fs.mkdirSync(next);
    for (const [name, content] of Object.entries(files)) {
      fs.writeFileSync(path.join(next, name), content);
    }
    if (fs.existsSync(dir)) {
      fs.renameSync(dir, previous);
    }
    try {
      fs.renameSync(next, dir);
    } catch (error) {
      if (fs.existsSync(previous)) {
        fs.renameSync(previous, dir);
      }
      throw error;
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return true;
}

/** Replaces one file by a rename, so that readers see the old or the new content, never a part. @returns whether it changed */
export function writeFileAtomically(file: string, content: string): boolean {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) {
    return false;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const scratch = path.join(path.dirname(file), `.${path.basename(file)}.synth-${process.pid}`);
  try {
    fs.writeFileSync(scratch, content);
    fs.renameSync(scratch, file);
  } finally {
    fs.rmSync(scratch, { force: true });
  }
  return true;
}
