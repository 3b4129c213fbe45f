import { Construct } from 'constructs';
import { MonitoringStackOptions } from '../options';
import { AlertRule, alertRules } from './alerts';
import { DashboardPanel, dashboardPanels, DashboardProps, grafanaDashboard } from './dashboard';
import { GrafanaDashboardConfigMap } from './dashboard-config-map';
import { Fail2banPodMonitor, podMonitorJob } from './pod-monitor';
import { Fail2banPrometheusRule } from './prometheus-rule';

/** Props of {@link buildMonitoring}: what the metrics feature knows of the deployment. */
export interface MonitoringObjectsProps {
  /** The package's name (the DaemonSet's): the objects are named after it. */
  readonly name: string;
  /** The package's namespace: the PodMonitor's and the PrometheusRule's, and the dashboard's by default. */
  readonly namespace: string;
  /** The package's recommended labels; the options' `labels` are added to them. */
  readonly labels: Readonly<Record<string, string>>;
  /** The DaemonSet's selector labels, which the PodMonitor selects the pods by. */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /** The jails fail2ban must run on every node: every enabled jail of jail.local, operator jails and mirrors included. */
  readonly expectedJails: readonly string[];
  /**
   * The jails that ban from logs, which the ban-storm alert counts (not operator jails nor mirrors).
   * @default every expected jail
   */
  readonly detectingJails?: readonly string[];
  /** The monitoring options. */
  readonly options: MonitoringStackOptions;
  /** The name of the node agent container's metrics port, which the PodMonitor scrapes. @default 'metrics' */
  readonly portName?: string;
  /**
   * The `job` label of the agents' series, for a stack that scrapes them some other way than the package's PodMonitor.
   * @default the PodMonitor's (`<namespace>/<name>`) with `options.podMonitor`; none otherwise (the f2b_* series are then selected by name alone, and nothing is said about `up`)
   */
  readonly scrapeJob?: string;
}

/** What {@link buildMonitoring} made, each only when its option is on. */
export interface MonitoringObjects {
  readonly podMonitor?: Fail2banPodMonitor;
  readonly prometheusRule?: Fail2banPrometheusRule;
  readonly dashboard?: GrafanaDashboardConfigMap;
}

/** The name of the port the agent container declares for `/metrics`, unless the props name another. */
export const METRICS_PORT_NAME = 'metrics';

/** The `job` label of the agents' series: the props', the package's PodMonitor's, or none. */
export function scrapeJobOf(props: MonitoringObjectsProps): string | undefined {
  return props.scrapeJob ?? (props.options.podMonitor ? podMonitorJob(props.namespace, props.name) : undefined);
}

/** The alerts these props give, with or without `options.alerts` (what the tests check). */
export function monitoringAlerts(props: MonitoringObjectsProps): AlertRule[] {
  return alertRules({
    namespace: props.namespace,
    job: scrapeJobOf(props),
    ownPodMonitor: props.scrapeJob === undefined && (props.options.podMonitor ?? false),
    expectedJails: props.expectedJails,
    detectingJails: props.detectingJails,
    banStormThreshold: props.options.banStormThreshold,
  });
}

function dashboardProps(props: MonitoringObjectsProps): DashboardProps {
  return { name: props.name, job: scrapeJobOf(props), expectedJailCount: props.expectedJails.length };
}

/** The dashboard's panels these props give, with or without `options.dashboard` (what the tests check). */
export function monitoringPanels(props: MonitoringObjectsProps): DashboardPanel[] {
  return dashboardPanels(dashboardProps(props));
}

/**
 * The objects for a Prometheus Operator stack (kube-prometheus-stack) that `options` turns on: a PodMonitor that
 * scrapes every node's agent, a PrometheusRule with the alerts, a Grafana dashboard ConfigMap. Each carries the
 * package's labels and the options' (the stack selects PodMonitors and rules by them, `release: …`).
 */
export function buildMonitoring(scope: Construct, props: MonitoringObjectsProps): MonitoringObjects {
  const { options } = props;
  const labels = { ...props.labels, ...options.labels };
  return {
    podMonitor: options.podMonitor
      ? new Fail2banPodMonitor(scope, 'MetricsPodMonitor', {
          name: props.name,
          namespace: props.namespace,
          labels,
          selectorLabels: props.selectorLabels,
          portName: props.portName ?? METRICS_PORT_NAME,
        })
      : undefined,
    prometheusRule: options.alerts
      ? new Fail2banPrometheusRule(scope, 'MetricsAlerts', { name: props.name, namespace: props.namespace, labels, rules: monitoringAlerts(props) })
      : undefined,
    dashboard: options.dashboard
      ? new GrafanaDashboardConfigMap(scope, 'MetricsDashboard', {
          name: `${props.name}-grafana-dashboard`,
          namespace: options.dashboardNamespace ?? props.namespace,
          labels,
          fileName: `${props.name}.json`,
          dashboard: grafanaDashboard(dashboardProps(props)),
        })
      : undefined,
  };
}
