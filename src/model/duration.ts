import { Duration } from 'cdk8s';

/**
 * A length of time: a cdk8s `Duration` (preferred), or a string in fail2ban's own syntax (`600`, `10m`, `1h`,
 * `1d 12h`, `10 minutes`), which synth checks the way fail2ban 1.0.2 reads it.
 */
export type TimeSpan = Duration | string;

/** A ban length: a time span, or `'permanent'` (fail2ban's `bantime = -1`, never purged from the database). */
export type BanTime = TimeSpan | 'permanent';

/** fail2ban's suffixes, largest first; weeks and days are left out so that `24h` stays `24h` as operators write it. */
const UNITS: ReadonlyArray<[suffix: string, seconds: number]> = [
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

// fail2ban 1.0.2's MyTime.str2seconds, step by step: split `1d12h` into `1d 12h`, replace each unit word by a
// factor, join `N N` with `+`, then evaluate. Units are matched in this order, as fail2ban does.
const YEAR = ((365 * 3 + 366) * 24 * 60 * 60) / 4;
const STR2SEC_UNITS: ReadonlyArray<[RegExp, number]> = [
  [/days?|da|dd?/, 24 * 60 * 60],
  [/weeks?|wee?|ww?/, 7 * 24 * 60 * 60],
  [/months?|mon?/, YEAR / 12],
  [/years?|yea?|yy?/, YEAR],
  [/seconds?|sec?|ss?/, 1],
  [/minutes?|min?|mm?/, 60],
  [/hours?|hou?|hh?/, 60 * 60],
].map(([words, factor]) => [new RegExp(`(?<=[\\d\\s])(${(words as RegExp).source})\\b`, 'gi'), factor as number]);

/**
 * Seconds of a duration in fail2ban's syntax, or `undefined` where fail2ban 1.0.2 would reject it.
 * fail2ban evaluates the result as a Python expression; this accepts its sums and differences of `N*factor` terms,
 * which is every form its documentation shows (`1h 30m`, `1hour+30min`, `1year-6mo`), and nothing that could run.
 */
export function parseFail2banDuration(text: string): number | undefined {
  let expression = text.replace(/(?<=[a-z])(\d)/gi, ' $1');
  for (const [unit, factor] of STR2SEC_UNITS) {
    expression = expression.replace(unit, `*${factor}`);
  }
  expression = expression.replace(/(\d)\s+(?=\d)/g, '$1+').replace(/\s+/g, '');
  const number = String.raw`\d+(?:\.\d+)?`;
  const term = `${number}(?:\\*${number})*`;
  if (!new RegExp(`^[-+]?${term}(?:[-+]${term})*$`).test(expression)) {
    return undefined;
  }
  return expression
    .match(new RegExp(`[-+]?${term}`, 'g'))!
    .map((t) => t.split('*').map(Number).reduce((a, b) => a * b))
    .reduce((a, b) => a + b, 0);
}

/** Seconds of a time span, `undefined` when fail2ban could not read it. */
export function timeSpanSeconds(span: TimeSpan): number | undefined {
  return typeof span === 'string' ? parseFail2banDuration(span) : span.toSeconds({ integral: false });
}

/** fail2ban's bantime when neither a jail nor `[DEFAULT]` sets one. */
export const FAIL2BAN_DEFAULT_BANTIME_SECONDS = 600;

/** Seconds of a jail's ban time (`[DEFAULT]`'s when the jail sets none, else fail2ban's own); -1 when permanent. */
export function jailBanTimeSeconds(banTime: BanTime | undefined): number {
  const seconds = banTime === undefined ? FAIL2BAN_DEFAULT_BANTIME_SECONDS : banTimeSeconds(banTime) ?? FAIL2BAN_DEFAULT_BANTIME_SECONDS;
  return Number.isFinite(seconds) ? seconds : -1;
}

/** Seconds of a ban; `Infinity` for a permanent one, `undefined` when fail2ban could not read it. */
export function banTimeSeconds(banTime: BanTime): number | undefined {
  return banTime === 'permanent' ? Infinity : timeSpanSeconds(banTime);
}

/** Renders a time span the way fail2ban reads it: a `Duration` in its largest whole unit (`10m`, `24h`), a string as written. */
export function renderDuration(span: TimeSpan): string {
  if (typeof span === 'string') {
    return span.trim();
  }
  const seconds = span.toSeconds({ integral: false });
  const [suffix, size] = UNITS.find(([, s]) => seconds % s === 0) ?? ['s', 1];
  return `${seconds / size}${suffix}`;
}

/** Renders a ban length for `jail.local`: `-1` is fail2ban's spelling of permanent. */
export function renderBanTime(banTime: BanTime): string {
  return banTime === 'permanent' ? '-1' : renderDuration(banTime);
}
