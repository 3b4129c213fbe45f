import * as fs from 'node:fs';
import * as path from 'node:path';

/** The publish action in this repository, in fail2ban's action.d format. */
export const PUBLISH_ACTION_FILE = path.join(__dirname, '..', '..', 'sharing', 'cluster-publish.conf');

/** Its ConfigMap key and file name under /data/action.d. */
export const PUBLISH_ACTION_KEY = 'cluster-publish.conf';

/** The action's text. */
export function publishAction(): string {
  return fs.readFileSync(PUBLISH_ACTION_FILE, 'utf8');
}
