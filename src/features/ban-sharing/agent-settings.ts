import { HANDOFF_DIR } from '../../k8s/node-agent';

/** The agent's memory of what it published, on the host so that pod restarts and reboots keep it. */
export const STATE_HOST_DIR = '/var/lib/fail2ban/ban-sharing';
export const STATE_DIR = '/var/lib/ban-sharing';

/** Where the publish action leaves its events for the agent: a directory of its own, shared by those two only. */
export const OUTBOX_DIR = `${HANDOFF_DIR}/outbox`;

/** Props of {@link sharingEnvironment}. */
export interface SharingEnvironmentProps {
  /** Origin jail → mirror jail and the longest ban the mirror holds (-1 permanent). */
  readonly sharedJails: Record<string, { readonly mirror: string; readonly maxBanTime: number }>;
  readonly rateLimitPerMinute: number;
  readonly maxRecordsPerNode: number;
}

/**
 * What the node agent needs to share bans (docs/ban-sharing.md), as its environment; where the API is, and the
 * never-ban list, it has from the core.
 */
export function sharingEnvironment(props: SharingEnvironmentProps): Record<string, string> {
  return {
    OUTBOX: OUTBOX_DIR,
    SHARED_JAILS: JSON.stringify(props.sharedJails),
    RATE_LIMIT: String(props.rateLimitPerMinute),
    MAX_RECORDS_PER_NODE: String(props.maxRecordsPerNode),
    REPUBLISH_SECONDS: '60',
    STATE_FILE: `${STATE_DIR}/state.json`,
  };
}
