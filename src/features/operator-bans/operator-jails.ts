import { heldJail } from '../../model/held-jail';
import { JailProps } from '../../model/jail';

/** Name of the jail that holds the operator's bans of jail `jail` (docs/operator-bans.md). */
export function operatorJailName(jail: string): string {
  return `${jail}-operator`;
}

/**
 * The operator jail of a jail: it holds the bans ordered through `OperatorBan` objects, permanently as far as
 * fail2ban knows (its database restores them after a restart); the node agent ends a timed order at its `expires`.
 */
export function operatorJail(jail: JailProps): JailProps {
  return heldJail(jail, operatorJailName(jail.name), 'permanent');
}
