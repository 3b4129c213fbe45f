import { Duration } from 'cdk8s';
import { banTimeSeconds } from '../../model/duration';
import { JailDefaults, JailProps } from '../../model/jail';
import { mirrorJailName } from './options';

/** fail2ban's own bantime when neither a jail nor `[DEFAULT]` sets one. */
const FAIL2BAN_DEFAULT_BANTIME = 600;

/** A mirror holds bans at least this long; the agent unbans at each record's own end. */
const MIN_MIRROR_BANTIME = 86_400;

/** Seconds of the longest ban a mirror must hold for an origin jail: its ban time, at least a day; -1 permanent. */
export function mirrorBanTimeSeconds(jail: JailProps, defaults: JailDefaults): number {
  const banTime = jail.banTime ?? defaults.banTime;
  const seconds = banTime === undefined ? FAIL2BAN_DEFAULT_BANTIME : banTimeSeconds(banTime) ?? FAIL2BAN_DEFAULT_BANTIME;
  return Number.isFinite(seconds) ? Math.max(seconds, MIN_MIRROR_BANTIME) : -1;
}

/**
 * The mirror jail of a shared jail: no filter and no log, so it only holds the bans other nodes shared, blocked the
 * same way (port, banaction, hook) as its origin. It has no publish action: a received ban is never sent on.
 */
export function mirrorJail(jail: JailProps, defaults: JailDefaults): JailProps {
  const seconds = mirrorBanTimeSeconds(jail, defaults);
  return {
    name: mirrorJailName(jail.name),
    enabled: true,
    filter: '',
    logPath: [],
    // Without a port of its own the origin has the stock jail's (ssh for sshd), which the mirror must not widen.
    port: jail.port ?? `%(${jail.name}/port)s`,
    protocol: `%(${jail.name}/protocol)s`,
    banAction: jail.banAction,
    blocks: jail.blocks,
    banTime: seconds === -1 ? 'permanent' : Duration.seconds(seconds),
  };
}
