import { BanTime } from './duration';
import { JailProps } from './jail';

/**
 * A jail whose bans the node agent sets and ends (a mirror of shared bans, an operator jail): no filter and no log,
 * blocked the same way (port, protocol, banaction, scope) as its origin jail.
 */
export function heldJail(origin: JailProps, name: string, banTime: BanTime): JailProps {
  return {
    name,
    enabled: true,
    filter: '',
    logPath: [],
    // Without a port of its own the origin has the stock jail's (ssh for sshd), which this jail must not widen.
    port: origin.port ?? `%(${origin.name}/port)s`,
    protocol: `%(${origin.name}/protocol)s`,
    banAction: origin.banAction,
    blocks: origin.blocks,
    banTime,
  };
}
