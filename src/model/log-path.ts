import * as path from 'node:path';

/** Where the host's `/var/log` is on every node. */
export const HOST_LOG_DIR = '/var/log';

/** Where the DaemonSet mounts the host's `/var/log` inside the container (read-only). */
export const CONTAINER_LOG_DIR = '/var/log/host';

/**
 * The container path of a host log file, for a jail's `logPath`.
 *
 * `hostLog('auth.log')` and `hostLog('/var/log/auth.log')` are both `/var/log/host/auth.log`.
 */
export function hostLog(file: string): string {
  const relative = path.posix.isAbsolute(file) ? path.posix.relative(HOST_LOG_DIR, file) : path.posix.normalize(file);
  if (relative === '' || relative.startsWith('..')) {
    throw new Error(`hostLog('${file}'): only files under the host's ${HOST_LOG_DIR} are mounted into the pod; name a file below it, e.g. hostLog('auth.log')`);
  }
  return path.posix.join(CONTAINER_LOG_DIR, relative);
}
