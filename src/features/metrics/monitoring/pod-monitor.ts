import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

/** How often Prometheus scrapes each agent: a third of the alerts' shortest `for`, and 3× the agent's snapshot interval. */
export const SCRAPE_INTERVAL = '30s';

/**
 * The `job` label of the series scraped through a PodMonitor without `jobLabel`: prometheus-operator sets it to
 * `<namespace>/<PodMonitor name>` (pkg/prometheus/promcfg.go, generatePodMonitorConfig, v0.93.0).
 */
export function podMonitorJob(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Props of {@link Fail2banPodMonitor}. */
export interface Fail2banPodMonitorProps {
  /** The PodMonitor's name: with the namespace, the `job` label of every series it scrapes. */
  readonly name: string;
  /** The package's namespace, where the fail2ban pods run (a PodMonitor selects pods in its own namespace). */
  readonly namespace: string;
  /** The package's labels and the stack's (`release: …`). */
  readonly labels: Readonly<Record<string, string>>;
  /** The DaemonSet's selector labels: only its pods. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /** The name of the agent container's port. */
  readonly portName: string;
}

/**
 * A `PodMonitor` (monitoring.coreos.com/v1) that scrapes the node agent of every fail2ban pod. The pods use the
 * host's network, so each target is `<node IP>:<port>`; the `node` label, from the pod's node name, is what the
 * alerts and the dashboard group by (the `instance` address means little to an operator, and `pod` changes at each
 * rollout).
 */
export class Fail2banPodMonitor extends Construct {
  /** The `job` label of the series it scrapes. */
  public readonly job: string;

  constructor(scope: Construct, id: string, props: Fail2banPodMonitorProps) {
    super(scope, id);
    this.job = podMonitorJob(props.namespace, props.name);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: {
        selector: { matchLabels: { ...props.selectorLabels } },
        podMetricsEndpoints: [
          {
            port: props.portName,
            path: '/metrics',
            scheme: 'http',
            interval: SCRAPE_INTERVAL,
            relabelings: [{ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
          },
        ],
      },
    });
  }
}
