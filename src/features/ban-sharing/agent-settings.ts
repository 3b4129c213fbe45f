import { RUN_DIR } from '../../k8s/node-agent';

/** Where the node agent finds its pod-bound token and the cluster CA (the only container that has them). */
export const TOKEN_DIR = '/var/run/secrets/ban-sharing';
/** The agent's memory of what it published, on the host so that pod restarts and reboots keep it. */
export const STATE_HOST_DIR = '/var/lib/fail2ban/ban-sharing';
export const STATE_DIR = '/var/lib/ban-sharing';

/** Props of {@link sharingEnvironment}. */
export interface SharingEnvironmentProps {
  readonly namespace: string;
  readonly group: string;
  /** Origin jail → mirror jail and the longest ban the mirror holds (-1 permanent). */
  readonly sharedJails: Record<string, { readonly mirror: string; readonly maxBanTime: number }>;
  /** Addresses and ranges no record may ban here. */
  readonly neverBan: readonly string[];
  readonly rateLimitPerMinute: number;
  readonly maxRecordsPerNode: number;
}

/** What the node agent needs to share bans (docs/ban-sharing.md), as its environment. */
export function sharingEnvironment(props: SharingEnvironmentProps): Record<string, string> {
  return {
    NAMESPACE: props.namespace,
    BAN_GROUP: props.group,
    TOKEN_FILE: `${TOKEN_DIR}/token`,
    CA_FILE: `${TOKEN_DIR}/ca.crt`,
    OUTBOX: `${RUN_DIR}/outbox`,
    SHARED_JAILS: JSON.stringify(props.sharedJails),
    NEVER_BAN: props.neverBan.join(' '),
    RATE_LIMIT: String(props.rateLimitPerMinute),
    MAX_RECORDS_PER_NODE: String(props.maxRecordsPerNode),
    REPUBLISH_SECONDS: '60',
    STATE_FILE: `${STATE_DIR}/state.json`,
  };
}
