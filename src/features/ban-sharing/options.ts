/** Cluster-wide ban sharing (docs/ban-sharing.md): a ban on one node is applied on every node. */
export interface BanSharingOptions {
  /** The cluster's Kubernetes version (`1.31`, `v1.32.3+k3s1`); sharing needs 1.31 or newer. */
  readonly kubernetesVersion: string;
  /** Jails whose bans every node applies; each gets a mirror jail `<name>-cluster`. */
  readonly jails: string[];
  /** Records applied per origin node per minute, at most: a runaway filter cannot flood every node. @default 60 */
  readonly rateLimitPerMinute?: number;
  /** Active records of one origin node that a node applies, at most: a node that floods the ledger gets no more. @default 5000 */
  readonly maxRecordsPerNode?: number;
  /** `Ban` objects the namespace may hold at all (a ResourceQuota): the API server refuses more. @default 20000 */
  readonly maxRecords?: number;
}

export const DEFAULT_RATE_LIMIT_PER_MINUTE = 60;
export const DEFAULT_MAX_RECORDS_PER_NODE = 5000;
export const DEFAULT_MAX_RECORDS = 20_000;

/** {@link BanSharingOptions} with the defaults filled in: what the manifests and the ban CLI use. */
export interface ResolvedBanSharing {
  /** Records applied per origin node per minute, at most. */
  readonly rateLimitPerMinute: number;
  /** Active records of one origin node applied, at most. */
  readonly maxRecordsPerNode: number;
  /** `Ban` objects the namespace may hold. */
  readonly maxRecords: number;
  /** Each shared jail's mirror jail, by shared jail. */
  readonly mirrors: Record<string, string>;
}

/** The oldest Kubernetes with what sharing rests on: CEL IP functions in CRD rules, node names in bound tokens. */
export const MIN_KUBERNETES_VERSION: readonly [number, number] = [1, 31];

/** Name of the jail that holds the bans other nodes shared from jail `jail`. */
export function mirrorJailName(jail: string): string {
  return `${jail}-cluster`;
}

/** The options with their defaults. */
export function resolveBanSharing(options: BanSharingOptions): ResolvedBanSharing {
  return {
    rateLimitPerMinute: options.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE,
    maxRecordsPerNode: options.maxRecordsPerNode ?? DEFAULT_MAX_RECORDS_PER_NODE,
    maxRecords: options.maxRecords ?? DEFAULT_MAX_RECORDS,
    mirrors: Object.fromEntries(options.jails.map((jail) => [jail, mirrorJailName(jail)])),
  };
}

/** `[major, minor]` of a version string such as `1.31`, `v1.32.3+k3s1`; undefined when it is not one. */
export function parseKubernetesVersion(version: string): [number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+][\w.+-]*)?$/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}
