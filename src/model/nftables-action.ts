import * as fs from 'node:fs';
import { packagePath } from './package-path';

/**
 * The file fail2ban's nftables actions read after their own definitions (`[INCLUDES] after`): the package's makes
 * their start idempotent (`actions/nftables-common.local`).
 */
export const NFTABLES_COMMON_LOCAL = 'nftables-common.local';

/**
 * The package's batching nftables action (`actions/nftables-batch.py`): the stock layout, one nftables transaction per
 * batch of bans. fail2ban loads a Python action when jail.local names its file, `.py` included.
 */
export const BATCH_ACTION = 'nftables-batch';
export const BATCH_ACTION_FILE = `${BATCH_ACTION}.py`;

/** The nftables actions: the stock ones and the package's; `blocks: 'host-and-forwarded'` works with each. */
export const NFTABLES_ACTIONS = ['nftables-multiport', 'nftables-allports', BATCH_ACTION];

/** The action files the package ships in the ConfigMap, for /data/action.d (the image links regular files from there). */
export function packageActionFiles(): Array<{ readonly name: string; readonly content: string }> {
  return [NFTABLES_COMMON_LOCAL, BATCH_ACTION_FILE].map((name) => ({ name, content: fs.readFileSync(packagePath('actions', name), 'utf8') }));
}

/** A banaction as jail.local writes it: the package's Python action by its file name. */
export function renderBanAction(banAction: string): string {
  return banAction === BATCH_ACTION ? BATCH_ACTION_FILE : banAction;
}
