/** Everything wrong with a configuration, found in one pass, each message naming the place, the problem and the fix. */
export class Fail2banConfigError extends Error {
  constructor(public readonly problems: readonly string[]) {
    super(`${problems.length} configuration error(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'Fail2banConfigError';
  }
}
