import { Duration } from 'cdk8s';
import { jailBanTimeSeconds } from '../../model/duration';
import { heldJail } from '../../model/held-jail';
import { JailDefaults, JailProps } from '../../model/jail';
import { mirrorJailName } from './options';

/** A mirror holds bans at least this long; the agent unbans at each record's own end. */
const MIN_MIRROR_BANTIME = 86_400;

/** Seconds of the longest ban a mirror must hold for an origin jail: its ban time, at least a day; -1 permanent. */
export function mirrorBanTimeSeconds(jail: JailProps, defaults: JailDefaults): number {
  const seconds = jailBanTimeSeconds(jail.banTime ?? defaults.banTime);
  return seconds === -1 ? -1 : Math.max(seconds, MIN_MIRROR_BANTIME);
}

/**
 * The mirror jail of a shared jail: it only holds the bans other nodes shared. It has no publish action: a received
 * ban is never sent on.
 */
export function mirrorJail(jail: JailProps, defaults: JailDefaults): JailProps {
  const seconds = mirrorBanTimeSeconds(jail, defaults);
  return heldJail(jail, mirrorJailName(jail.name), seconds === -1 ? 'permanent' : Duration.seconds(seconds));
}
