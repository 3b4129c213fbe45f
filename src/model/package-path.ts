import * as fs from 'node:fs';
import * as path from 'node:path';

const PACKAGE_NAME = 'k3s-fail2ban';
let root: string | undefined;

/**
 * A path in this package (`filters/`, `agent/`, `actions/`): found from the nearest folder above this module whose
 * package.json is the package's, so that it is the same from `src/` (jest) and from a bundle in `dist/app/`.
 */
export function packagePath(...parts: string[]): string {
  if (root === undefined) {
    for (let dir = __dirname; ; dir = path.dirname(dir)) {
      const manifest = path.join(dir, 'package.json');
      if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === PACKAGE_NAME) {
        root = dir;
        break;
      }
      if (path.dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${__dirname}`);
    }
  }
  return path.join(root, ...parts);
}
