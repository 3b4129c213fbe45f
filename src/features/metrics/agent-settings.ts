import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

/** The exporter's port, so that scrape configs written for it keep working. */
export const DEFAULT_METRICS_PORT = 9191;

/** `listenAddress` for the node's address in the cluster (the pod's `status.hostIP`). */
export const NODE_ADDRESS = 'node';

/** Props of {@link metricsEnvironment}. */
export interface MetricsEnvironmentProps {
  readonly listenAddress: string;
  readonly port: number;
  readonly snapshotInterval: Duration;
}

/**
 * What the node agent needs to serve its metrics (agent/metrics.py), as its environment: the address from the
 * downward API when it is the node's, so that it is the address the node has in the cluster, not every interface.
 */
export function metricsEnvironment(props: MetricsEnvironmentProps): Record<string, kplus.EnvValue> {
  return {
    METRICS_ADDRESS: props.listenAddress === NODE_ADDRESS ? kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.NODE_IP) : kplus.EnvValue.fromValue(props.listenAddress),
    METRICS_PORT: kplus.EnvValue.fromValue(String(props.port)),
    METRICS_SNAPSHOT_SECONDS: kplus.EnvValue.fromValue(String(props.snapshotInterval.toSeconds())),
  };
}
