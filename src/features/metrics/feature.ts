import { isIP } from 'node:net';
import { Duration } from 'cdk8s';
import { Fail2banFeature } from '../feature';
import { DEFAULT_METRICS_PORT, metricsEnvironment, NODE_ADDRESS } from './agent-settings';
import { buildMonitoring, METRICS_PORT_NAME } from './monitoring/monitoring-objects';
import { MetricsOptions } from './options';

/** Every default of {@link MetricsOptions}. */
const DEFAULTS = {
  port: DEFAULT_METRICS_PORT,
  listenAddress: NODE_ADDRESS,
  snapshotInterval: Duration.seconds(10),
};

/** Addresses that listen on every interface of the node, public ones included (the pod uses the host's network). */
const EVERY_INTERFACE = ['0.0.0.0', '::'];

function checkOptions(options: MetricsOptions): string[] {
  const problems: string[] = [];
  const port = options.port ?? DEFAULTS.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    problems.push(`metrics: port ${port} is not a port number (1-65535). Fix: e.g. ${DEFAULTS.port}, or leave it unset.`);
  }
  const address = options.listenAddress ?? DEFAULTS.listenAddress;
  if (address !== NODE_ADDRESS && isIP(address) === 0) {
    problems.push(`metrics: listenAddress "${address}" is neither '${NODE_ADDRESS}' (the node's address in the cluster) nor an IP address. Fix: leave it unset, or write one address, e.g. '127.0.0.1'.`);
  }
  const interval = (options.snapshotInterval ?? DEFAULTS.snapshotInterval).toMilliseconds();
  if (!(interval >= 1000 && interval % 1000 === 0)) {
    problems.push(`metrics: snapshotInterval ${interval / 1000} s is not a whole number of seconds of at least 1 (under a second, every scrape would ask fail2ban again). Fix: e.g. Duration.seconds(10).`);
  }
  return problems;
}

/**
 * The node agent's metrics (README: "Metrics"): fail2ban's jails as hectorjsmith/fail2ban-prometheus-exporter exposes
 * them and the agent's own (agent/metrics.json), on the node's cluster address; the monitoring stack's objects
 * (PodMonitor, alerts, dashboard) when asked for.
 */
export function metricsFeature(options: MetricsOptions): Fail2banFeature {
  const port = options.port ?? DEFAULTS.port;
  const listenAddress = options.listenAddress ?? DEFAULTS.listenAddress;
  return {
    name: 'metrics',
    validate: () => checkOptions(options),
    warnings: () =>
      EVERY_INTERFACE.includes(listenAddress)
        ? [`metrics: listenAddress "${listenAddress}" opens port ${port} on every interface of every node, public ones included (the pod uses the host's network): anyone who reaches a node reads its jails and ban counts. Fix: leave listenAddress unset (the node's cluster address), or firewall port ${port}.`]
        : [],
    build: ({ scope, daemonSet, jails }, config) => {
      const environment = metricsEnvironment({ listenAddress, port, snapshotInterval: options.snapshotInterval ?? DEFAULTS.snapshotInterval });
      for (const [name, value] of Object.entries(environment)) daemonSet.agent.env.addVariable(name, value);
      daemonSet.agent.addPort({ number: port, name: METRICS_PORT_NAME });
      buildMonitoring(scope, {
        name: config.name,
        namespace: config.namespace,
        labels: config.labels,
        selectorLabels: config.selectorLabels,
        expectedJails: jails,
        detectingJails: config.jails.filter((jail) => jail.enabled ?? true).map((jail) => jail.name),
        options: options.monitoring ?? {},
      });
    },
  };
}
