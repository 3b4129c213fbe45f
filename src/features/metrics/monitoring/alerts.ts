import { exactAlternatives, matchers, promString } from './promql';

/** Bans of one jail within 5 minutes, summed over the nodes, that make a storm unless the options say otherwise. */
export const DEFAULT_BAN_STORM_THRESHOLD = 100;

/** One alert of the package, in the terms the README and the PrometheusRule both use. */
export interface AlertRule {
  /** `alert:`, prefixed `Fail2ban`. */
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold before the alert fires (a Prometheus duration). @default fires at once */
  readonly for?: string;
  /** `labels.severity`: `critical` when a node protects nothing new, `warning` otherwise. */
  readonly severity: 'critical' | 'warning';
  /** `annotations.summary`: one line, with Prometheus templates (`{{ $labels.node }}`). */
  readonly summary: string;
  /** `annotations.description`: what it means for the cluster. */
  readonly description: string;
  /** `annotations.runbook`: what to look at first, as commands. */
  readonly runbook: string;
}

/** Props of {@link alertRules}. */
export interface AlertRulesProps {
  /** The package's namespace, for the commands of the runbooks. */
  readonly namespace: string;
  /**
   * The `job` label of the agents' series (the PodMonitor's `<namespace>/<name>`).
   * @default none: the f2b_* series are selected by name alone, and the alerts on `up` (which needs the job) are left out
   */
  readonly job?: string;
  /**
   * Whether the job is the package's own PodMonitor, so that no target at all is itself a fault (a PodMonitor that
   * the stack's Prometheus does not select, a DaemonSet gone).
   * @default false
   */
  readonly ownPodMonitor?: boolean;
  /** The jails fail2ban must run on every node (jail.local's enabled jails, operator jails and mirrors included). */
  readonly expectedJails: readonly string[];
  /**
   * The jails the ban-storm alert counts: those that ban from logs. An operator jail's bans come from one order, and
   * a mirror's repeat on every node the bans of another node, so neither makes a storm.
   * @default every jail
   */
  readonly detectingJails?: readonly string[];
  /** Bans of one jail within 5 minutes, summed over the nodes, that raise the ban-storm alert. @default 100 */
  readonly banStormThreshold?: number;
}

/** The package's alerts, in the order of the PrometheusRule, for it and for the README's table. */
export function alertRules(props: AlertRulesProps): AlertRule[] {
  const ns = props.namespace;
  const job = props.job === undefined ? undefined : `job=${promString(props.job)}`;
  const threshold = props.banStormThreshold ?? DEFAULT_BAN_STORM_THRESHOLD;
  const jails = props.expectedJails;
  const detecting = props.detectingJails === undefined ? undefined : `jail=~${promString(exactAlternatives(props.detectingJails))}`;
  const agentLogs = `kubectl -n ${ns} logs {{ $labels.pod }} -c node-agent`;
  const rules: AlertRule[] = [
    {
      alert: 'Fail2banDown',
      expr: `f2b_up${matchers(job)} == 0`,
      // A restart of the fail2ban container (a new ConfigMap, an OOM kill) takes seconds; 5 minutes is a real outage.
      for: '5m',
      severity: 'critical',
      summary: 'fail2ban is down on {{ $labels.node }}',
      description:
        'The node agent on {{ $labels.node }} has had no answer from fail2ban for 5 minutes: the node bans no new address, and operator orders and shared bans wait.',
      runbook: `kubectl -n ${ns} logs {{ $labels.pod }} -c fail2ban --tail=50 (a configuration error names the jail or filter); kubectl -n ${ns} describe pod {{ $labels.pod }} (restarts, OOMKilled); kubectl -n ${ns} exec {{ $labels.pod }} -c fail2ban -- fail2ban-client ping.`,
    },
  ];
  if (job !== undefined) {
    rules.push({
      alert: 'Fail2banAgentDown',
      expr: `up${matchers(job)} == 0`,
      for: '5m',
      severity: 'warning',
      summary: 'The fail2ban node agent on {{ $labels.node }} cannot be scraped',
      description:
        "Prometheus has failed to scrape the node agent of {{ $labels.pod }} on {{ $labels.node }} for 5 minutes: what fail2ban does there is unknown, and Fail2banDown cannot fire for that node.",
      runbook: `kubectl -n ${ns} get pod {{ $labels.pod }} -o wide; ${agentLogs}; the agent listens on the node's address ({{ $labels.instance }}): a host firewall must let Prometheus's pods reach that port.`,
    });
  }
  if (job !== undefined && props.ownPodMonitor) {
    rules.push({
      alert: 'Fail2banAgentsAbsent',
      expr: `absent(up${matchers(job)})`,
      // Longer than the others: Prometheus reloads its configuration and discovers new targets within minutes.
      for: '15m',
      severity: 'warning',
      summary: 'Prometheus scrapes no fail2ban node agent',
      description: `Prometheus has had no target of the PodMonitor ${props.job} for 15 minutes: none of the fail2ban alerts can fire.`,
      runbook: `kubectl -n ${ns} get podmonitor,daemonset,pods; the stack's Prometheus takes only the PodMonitors its podMonitorSelector matches (kube-prometheus-stack: the label release: <its Helm release>, set in the monitoring options' labels) in the namespaces its podMonitorNamespaceSelector matches; Status → Targets in Prometheus's UI lists what it scrapes.`,
    });
  }
  if (jails.length > 0) {
    rules.push({
      alert: 'Fail2banJailNotRunning',
      // Only while fail2ban answers: a fail2ban that is down is Fail2banDown's.
      expr: `f2b_jail_count${matchers(job)} < ${jails.length} and f2b_up${matchers(job)} == 1`,
      for: '5m',
      severity: 'warning',
      summary: `fail2ban on {{ $labels.node }} runs {{ $value }} of its ${jails.length} jails`,
      description: `fail2ban on {{ $labels.node }} runs {{ $value }} jails, but should run ${jails.length} (${jails.join(', ')}): a jail whose log file, filter or action fails does not start, and its attackers are not banned on that node.`,
      runbook: `kubectl -n ${ns} exec {{ $labels.pod }} -c fail2ban -- fail2ban-client status lists the running jails; kubectl -n ${ns} logs {{ $labels.pod }} -c fail2ban | grep -i error names the one that failed and why.`,
    });
  }
  rules.push(
    {
      alert: 'Fail2banAgentNotSyncing',
      // The agent's watches end and start again every minute, so 5 minutes without a successful read is an outage.
      expr: `time() - f2b_agent_last_sync_timestamp_seconds${matchers(job, 'source="api"')} > 300`,
      for: '5m',
      severity: 'warning',
      summary: 'The fail2ban node agent on {{ $labels.node }} has not read the Kubernetes API for {{ $value | humanizeDuration }}',
      description:
        "Operator bans and other nodes' shared bans do not reach {{ $labels.node }}, and its own bans are not shared; fail2ban itself still bans from the node's logs.",
      runbook: `${agentLogs} (a 401 or 403: the token or RBAC; a timeout: the way to the API server); f2b_agent_errors_total{kind=~"orders|sharing"} counts the errors of the watchers, the reporter and the publisher.`,
    },
    {
      alert: 'Fail2banBanSharingErrors',
      expr: `increase(f2b_agent_errors_total${matchers(job, 'kind="sharing"')}[10m]) > 0`,
      // A lone error (a write conflict the agent retries) clears within 10 minutes; errors for 15 minutes do not.
      for: '15m',
      severity: 'warning',
      summary: 'Ban sharing fails on {{ $labels.node }}',
      description:
        "The node agent on {{ $labels.node }} has kept counting ban-sharing errors for 15 minutes: this node's bans may not reach the other nodes, or theirs this one.",
      runbook: `${agentLogs} names the record and the error; f2b_agent_sharing_refused_total counts the records refused, by reason; npm run bans -- list shows which nodes lack which bans.`,
    },
    {
      alert: 'Fail2banBanStorm',
      expr: `sum by (jail) (increase(f2b_jail_banned_total${matchers(job, detecting)}[5m])) > ${threshold}`,
      // No `for`: the 5-minute window already smooths it, and a storm is news while it happens.
      severity: 'warning',
      summary: 'Ban storm in jail {{ $labels.jail }}: {{ $value | humanize }} bans in 5 minutes',
      description: `The nodes together banned more than ${threshold} addresses in jail {{ $labels.jail }} within 5 minutes: an attack from many addresses, or a filter that matches legitimate clients (an app's new log format, a health check, a proxy's address).`,
      runbook:
        'npm run bans -- list --jail {{ $labels.jail }} shows the addresses; if they are your own clients or proxies, unban them (npm run bans -- unban) and fix the filter or ignoreIp; an attack needs nothing more.',
    },
  );
  return rules;
}
