/** k3s's default pod network (`--cluster-cidr`). */
export const K3S_POD_CIDR = '10.42.0.0/16';

/** k3s's default service network (`--service-cidr`). */
export const K3S_SERVICE_CIDR = '10.43.0.0/16';

/**
 * The cluster's own addresses, always added to `ignoreip`: a banned pod or node could be cut off from the API server
 * that would unban it, and one misbehaving pod would lock out every pod behind its node's address.
 */
export interface ClusterAddresses {
  /** The nodes' addresses or their subnets. */
  readonly nodeAddresses: string[];
  /** Pod network. @default K3S_POD_CIDR */
  readonly podCidr?: string;
  /** Service network. @default K3S_SERVICE_CIDR */
  readonly serviceCidr?: string;
}

/** Every range of the cluster block, pods and services first. */
export function clusterRanges(cluster: ClusterAddresses): string[] {
  return [cluster.podCidr ?? K3S_POD_CIDR, cluster.serviceCidr ?? K3S_SERVICE_CIDR, ...cluster.nodeAddresses];
}
