import { Duration } from 'cdk8s';

/** Objects for a Prometheus Operator monitoring stack (kube-prometheus-stack), each opt-in. */
export interface MonitoringStackOptions {
  /** A `PodMonitor` (monitoring.coreos.com/v1) that scrapes every node's agent. @default false */
  readonly podMonitor?: boolean;
  /** A `PrometheusRule` with the package's alerts (README: "Metrics"). @default false */
  readonly alerts?: boolean;
  /** A Grafana dashboard in a ConfigMap labelled for Grafana's dashboard sidecar (`grafana_dashboard: "1"`). @default false */
  readonly dashboard?: boolean;
  /**
   * Labels the stack selects these objects by, added to each: kube-prometheus-stack's Prometheus picks PodMonitors
   * and PrometheusRules labelled `release: <its Helm release>`.
   * @default none
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** Namespace of the dashboard's ConfigMap: where Grafana's sidecar looks. @default the package's namespace */
  readonly dashboardNamespace?: string;
  /** Bans of one jail within 5 minutes, summed over the nodes, that raise the ban-storm alert. @default 100 */
  readonly banStormThreshold?: number;
}

/**
 * The node agent's metrics endpoint (README: "Metrics"): fail2ban's jails as hectorjsmith/fail2ban-prometheus-exporter
 * exposes them, and the agent's own (agent/metrics.json).
 */
export interface MetricsOptions {
  /** The port of `/metrics`, on the node (the pod uses the host's network). @default 9191 (the exporter's) */
  readonly port?: number;
  /**
   * The address it listens on: `'node'` is the node's address in the cluster (the pod's `status.hostIP`), not every
   * interface; an IP address (`'127.0.0.1'`, `'0.0.0.0'` for every interface) otherwise.
   * @default 'node'
   */
  readonly listenAddress?: string;
  /** The shortest time between two reads of fail2ban: scrapes in between get the last snapshot. @default 10 seconds */
  readonly snapshotInterval?: Duration;
  /** Objects for a Prometheus Operator monitoring stack. @default none */
  readonly monitoring?: MonitoringStackOptions;
}
