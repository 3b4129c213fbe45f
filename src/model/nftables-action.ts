import * as fs from 'node:fs';
import { packagePath } from './package-path';

/**
 * The file fail2ban's nftables actions read after their own definitions (`[INCLUDES] after`): the package's makes
 * their start idempotent (`actions/nftables-common.local`).
 */
export const NFTABLES_COMMON_LOCAL = 'nftables-common.local';

/** Its text, shipped in the ConfigMap. */
export function nftablesCommonLocal(): string {
  return fs.readFileSync(packagePath('actions', NFTABLES_COMMON_LOCAL), 'utf8');
}
