import { normalizeAddress } from './validate';

/** The two changes the CLI makes. */
export type BanAction = 'ban' | 'unban';

/** `fail2ban-client get JAIL banip`: prints the jail's banned addresses on one line, space-separated (empty: none). */
export function banListArgs(jail: string): string[] {
  return ['get', jail, 'banip'];
}

/** `fail2ban-client set JAIL banip|unbanip ADDRESS`: prints how many addresses changed (1, or 0 when nothing to do). */
export function changeArgs(action: BanAction, jail: string, address: string): string[] {
  return ['set', jail, action === 'ban' ? 'banip' : 'unbanip', address];
}

/** The addresses of a `get JAIL banip` answer, in the same form as a validated `--ip`. */
export function parseBanList(stdout: string): string[] {
  return stdout.split(/\s+/).filter(Boolean).map(normalizeAddress);
}

/** The count a `set JAIL banip|unbanip` printed; anything else means the client did not do what was asked. */
export function parseChangeCount(stdout: string): number {
  const text = stdout.trim();
  if (!/^\d+$/.test(text)) {
    throw new Error(`unexpected answer ${JSON.stringify(text.slice(0, 80))} (expected 1 or 0)`);
  }
  return Number(text);
}
