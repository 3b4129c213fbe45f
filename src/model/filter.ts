import * as fs from 'node:fs';
import * as path from 'node:path';
import { packagePath } from './package-path';

/** A fail2ban filter file shipped in the ConfigMap and mounted into `filter.d`. */
export interface FilterFile {
  /** Filter name as a jail's `filter =` names it; the file is `<name>.conf`. */
  readonly name: string;
  /** The file's text. */
  readonly content: string;
}

/** The `filters/` directory of this package. */
export const FILTERS_DIR = packagePath('filters');

/** The ConfigMap key (and `filter.d` file name) of a filter. */
export function filterFileName(filter: FilterFile): string {
  return `${filter.name}.conf`;
}

/** Reads every `*.conf` in a directory as a filter, sorted by name so output never depends on the file system. */
export function loadFilters(dir: string = FILTERS_DIR): FilterFile[] {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.conf'))
    .sort()
    .map((file) => ({ name: file.slice(0, -'.conf'.length), content: fs.readFileSync(path.join(dir, file), 'utf8') }));
}

/**
 * A file that filters include (`[INCLUDES] before = common.conf` and, on the next line, its name), such as
 * `filters/cri.inc` for pod-log filters: shipped beside the filters in `filter.d` under its own name. Its extension
 * keeps it apart from the filters, so that no jail can name it as its filter.
 */
export interface FilterInclude {
  /** The file name, which is also the ConfigMap key and the name filters include it by. */
  readonly fileName: string;
  /** The file's text. */
  readonly content: string;
}

/** The extension of the files in `filters/` that filters include. */
export const FILTER_INCLUDE_EXTENSION = '.inc';

/** Reads every `*.inc` in a directory, sorted by name. */
export function loadFilterIncludes(dir: string = FILTERS_DIR): FilterInclude[] {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith(FILTER_INCLUDE_EXTENSION))
    .sort()
    .map((file) => ({ fileName: file, content: fs.readFileSync(path.join(dir, file), 'utf8') }));
}

/** The include every pod-log filter reads the CRI prefix and time with (`filters/cri.inc`). */
export const CRI_INCLUDE = 'cri.inc';

/**
 * Whether a filter reads pod logs: it includes cri.inc right after common.conf, one file per line (fail2ban splits
 * `before` at line breaks). A filter without it would read the CRI time as local time and see the prefix as the
 * app's text.
 */
export function readsPodLogs(filter: FilterFile): boolean {
  return new RegExp(`^before = common\\.conf\\n[ \\t]+${CRI_INCLUDE.replace('.', '\\.')}$`, 'm').test(filter.content);
}
