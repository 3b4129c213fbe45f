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
