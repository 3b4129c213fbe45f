import { Duration } from 'cdk8s';

/** A ban length: a duration, or `'permanent'` (fail2ban's `bantime = -1`, never purged from the database). */
export type BanTime = Duration | 'permanent';

/** fail2ban's suffixes, largest first; weeks and days are left out so that `24h` stays `24h` as operators write it. */
const UNITS: ReadonlyArray<[suffix: string, seconds: number]> = [
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/** Seconds of a ban; `Infinity` for a permanent one. */
export function banTimeSeconds(banTime: BanTime): number {
  return banTime === 'permanent' ? Infinity : banTime.toSeconds();
}

/** Renders a duration the way fail2ban reads it (`10m`, `1h`, `24h`), in the largest whole unit. */
export function renderDuration(duration: Duration): string {
  const seconds = duration.toSeconds({ integral: false });
  const [suffix, size] = UNITS.find(([, s]) => seconds % s === 0) ?? ['s', 1];
  return `${seconds / size}${suffix}`;
}

/** Renders a ban length for `jail.local`: `-1` is fail2ban's spelling of permanent. */
export function renderBanTime(banTime: BanTime): string {
  return banTime === 'permanent' ? '-1' : renderDuration(banTime);
}
