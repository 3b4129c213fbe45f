import * as fs from 'node:fs';
import { packagePath } from '../../model/package-path';

/** The action that hands a shared jail's bans to the node agent, as jail.local names it. */
export const PUBLISH_ACTION = 'cluster-publish';

/** Its ConfigMap key and file name under /data/action.d. */
export const PUBLISH_ACTION_KEY = `${PUBLISH_ACTION}.conf`;

/** The action in this repository, in fail2ban's action.d format. */
export const PUBLISH_ACTION_FILE = packagePath('actions', PUBLISH_ACTION_KEY);

/** The action's text. */
export function publishAction(): string {
  return fs.readFileSync(PUBLISH_ACTION_FILE, 'utf8');
}
