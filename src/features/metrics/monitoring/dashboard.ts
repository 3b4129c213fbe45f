import { createHash } from 'node:crypto';
import { matchers, promString } from './promql';

/** Grafana's dashboard JSON model version the dashboard is written in (Grafana 10.3–11). */
export const DASHBOARD_SCHEMA_VERSION = 39;

/** The template variable every panel queries through: the user picks the Prometheus data source. */
export const DATASOURCE_VARIABLE = 'datasource';

/** What each panel and target names as its data source: the variable, never a fixed data source's uid. */
const DATASOURCE = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` } as const;

/** The nodes picked in the `node` variable, as a matcher (Grafana writes a multi-value pick as `a|b`). */
const NODE = 'node=~"$node"';

/** One query of a panel. */
export interface PanelTarget {
  /** PromQL, with Grafana's variables (`$node`, `$__rate_interval`, `$__range`). */
  readonly expr: string;
  /** The series' name in the legend (`{{node}}`). */
  readonly legend: string;
  /** One value at the end of the time range rather than a series over it. @default false */
  readonly instant?: boolean;
}

/** A threshold: from `value` on (null: from the lowest), the panel shows `color`. */
export interface ThresholdStep {
  readonly color: string;
  readonly value: number | null;
}

/** One panel, answering one question an operator asks. */
export interface DashboardPanel {
  readonly title: string;
  /** The question it answers: the panel's description, and the README's. */
  readonly question: string;
  readonly type: 'timeseries' | 'state-timeline' | 'stat' | 'bargauge';
  readonly targets: readonly PanelTarget[];
  /** Width in Grafana's 24 columns. */
  readonly width: 12 | 24;
  /** Grafana's unit id. @default 'short' */
  readonly unit?: string;
  /** @default green from the lowest value */
  readonly thresholds?: readonly ThresholdStep[];
  /** Values shown as text, with a color. @default none */
  readonly valueTexts?: Readonly<Record<string, { text: string; color: string }>>;
}

/** Props of {@link dashboardPanels} and {@link grafanaDashboard}. */
export interface DashboardProps {
  /** The package's name: the dashboard's uid is made from it. */
  readonly name: string;
  /**
   * The `job` label of the agents' series.
   * @default none: the f2b_* series are selected by name alone, and the panel on `up` is left out
   */
  readonly job?: string;
  /** How many jails each node should run: below it, the jail count shows red. @default none (no red) */
  readonly expectedJailCount?: number;
}

const PANEL_HEIGHT = 8;

/** The dashboard's stable uid: Grafana keeps a dashboard's history and links by it, so it never changes with content. */
export function dashboardUid(name: string): string {
  const uid = `k3s-${name}`;
  // Grafana refuses a uid longer than 40 characters.
  return uid.length <= 40 ? uid : `k3s-${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
}

/** The panels, in the order they are laid out: the questions an operator asks, the most urgent first. */
export function dashboardPanels(props: DashboardProps): DashboardPanel[] {
  const job = props.job === undefined ? undefined : `job=${promString(props.job)}`;
  const ours = (...more: string[]) => matchers(job, NODE, ...more);
  const upDown = { '0': { text: 'down', color: 'red' }, '1': { text: 'up', color: 'green' } };
  return [
    {
      title: 'fail2ban and its agent, per node',
      question: 'Is fail2ban up on every node, and does Prometheus reach every node agent?',
      type: 'state-timeline',
      width: 24,
      targets: [
        { expr: `min by (node) (f2b_up${ours()})`, legend: '{{node}} fail2ban' },
        ...(job === undefined ? [] : [{ expr: `min by (node) (up${ours()})`, legend: '{{node}} agent' }]),
      ],
      thresholds: [
        { color: 'red', value: null },
        { color: 'green', value: 1 },
      ],
      valueTexts: upDown,
    },
    {
      title: 'Jails running, per node',
      question: 'Does every node run every jail?',
      type: 'stat',
      width: 12,
      targets: [{ expr: `max by (node) (f2b_jail_count${ours()})`, legend: '{{node}}' }],
      thresholds:
        props.expectedJailCount === undefined
          ? undefined
          : [
              { color: 'red', value: null },
              { color: 'green', value: props.expectedJailCount },
            ],
    },
    {
      title: 'Top jails by bans in the time range',
      question: 'Which jails ban the most?',
      type: 'bargauge',
      width: 12,
      targets: [{ expr: `topk(10, sum by (jail) (increase(f2b_jail_banned_total${ours()}[$__range])))`, legend: '{{jail}}', instant: true }],
    },
    {
      title: 'Addresses banned now, per jail and node',
      question: 'How many addresses does each jail hold on each node?',
      type: 'timeseries',
      width: 12,
      targets: [{ expr: `sum by (node, jail) (f2b_jail_banned_current${ours()})`, legend: '{{node}} {{jail}}' }],
    },
    {
      title: 'Failures and bans per second, per jail',
      question: 'Do failures turn into bans, or does a jail count failures it never bans for (or ban on few failures)?',
      type: 'timeseries',
      width: 12,
      unit: 'ops',
      targets: [
        { expr: `sum by (jail) (rate(f2b_jail_failed_total${ours()}[$__rate_interval]))`, legend: '{{jail}} failures' },
        { expr: `sum by (jail) (rate(f2b_jail_banned_total${ours()}[$__rate_interval]))`, legend: '{{jail}} bans' },
      ],
    },
    {
      title: 'Time since the last read of the Kubernetes API, per node',
      question: "Do operator bans and other nodes' shared bans reach every node (the Fail2banAgentNotSyncing alert fires above 5 minutes)?",
      type: 'timeseries',
      width: 12,
      unit: 's',
      targets: [{ expr: `time() - max by (node) (f2b_agent_last_sync_timestamp_seconds${ours('source="api"')})`, legend: '{{node}}' }],
      thresholds: [
        { color: 'green', value: null },
        { color: 'red', value: 300 },
      ],
    },
    {
      title: 'Ban sharing: bans published and applied, per node',
      question: "Does each node share its bans, and apply the others'?",
      type: 'timeseries',
      width: 12,
      unit: 'ops',
      targets: [
        { expr: `sum by (node) (rate(f2b_agent_sharing_published_total${ours()}[$__rate_interval]))`, legend: '{{node}} published' },
        { expr: `sum by (node) (rate(f2b_agent_sharing_applied_total${ours()}[$__rate_interval]))`, legend: '{{node}} applied' },
      ],
    },
    {
      title: 'Ban sharing: records refused, by reason',
      question: "Why do nodes refuse other nodes' ban records?",
      type: 'timeseries',
      width: 12,
      targets: [{ expr: `sum by (reason) (increase(f2b_agent_sharing_refused_total${ours()}[$__rate_interval]))`, legend: '{{reason}}' }],
    },
    {
      title: 'Operator orders applied, by action',
      question: 'Do the nodes apply the operators\' bans and unbans (npm run bans)?',
      type: 'timeseries',
      width: 12,
      targets: [{ expr: `sum by (action) (increase(f2b_agent_operator_orders_applied_total${ours()}[$__rate_interval]))`, legend: '{{action}}' }],
    },
    {
      title: 'Pod-log files read, per jail and node',
      question: "Does each pod-log jail read its pods' logs on every node they run on (0: the jail reads nothing there)?",
      type: 'timeseries',
      width: 12,
      targets: [{ expr: `sum by (node, jail) (f2b_agent_pod_log_files${ours()})`, legend: '{{node}} {{jail}}' }],
    },
    {
      title: 'Agent errors, by kind',
      question: 'What fails in the node agents: the API, fail2ban, pod logs, sharing or orders?',
      type: 'timeseries',
      width: 12,
      targets: [{ expr: `sum by (kind) (increase(f2b_agent_errors_total${ours()}[$__rate_interval]))`, legend: '{{kind}}' }],
    },
  ];
}

/** Grafana's options of each panel type: legends below, tooltips with every series, the last value for stats. */
function panelOptions(type: DashboardPanel['type']): Record<string, unknown> {
  const legend = { displayMode: 'list', placement: 'bottom', showLegend: true };
  const reduceOptions = { calcs: ['lastNotNull'], fields: '', values: false };
  switch (type) {
    case 'timeseries':
      return { legend, tooltip: { mode: 'multi', sort: 'desc' } };
    case 'state-timeline':
      return { legend, mergeValues: true, rowHeight: 0.9, showValue: 'never', tooltip: { mode: 'single', sort: 'none' } };
    case 'stat':
      return { colorMode: 'background', graphMode: 'none', justifyMode: 'auto', orientation: 'auto', reduceOptions, textMode: 'value_and_name' };
    case 'bargauge':
      return { displayMode: 'gradient', orientation: 'horizontal', reduceOptions, showUnfilled: true };
  }
}

/** A panel as Grafana's JSON model has it, at its place in the grid. */
function panelJson(panel: DashboardPanel, id: number, gridPos: { x: number; y: number }): Record<string, unknown> {
  const mappings = Object.entries(panel.valueTexts ?? {}).map(([value, { text, color }], index) => ({
    type: 'value',
    options: { [value]: { text, color, index } },
  }));
  return {
    id,
    type: panel.type,
    title: panel.title,
    description: panel.question,
    datasource: DATASOURCE,
    gridPos: { h: PANEL_HEIGHT, w: panel.width, ...gridPos },
    fieldConfig: {
      defaults: {
        unit: panel.unit ?? 'short',
        color: { mode: panel.type === 'timeseries' ? 'palette-classic' : 'thresholds' },
        mappings,
        thresholds: { mode: 'absolute', steps: panel.thresholds ?? [{ color: 'green', value: null }] },
      },
      overrides: [],
    },
    options: panelOptions(panel.type),
    targets: panel.targets.map((target, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource: DATASOURCE,
      expr: target.expr,
      legendFormat: target.legend,
      instant: target.instant ?? false,
      range: !(target.instant ?? false),
    })),
  };
}

/** Panels laid out left to right, top to bottom, in Grafana's 24 columns. */
function layout(panels: readonly DashboardPanel[]): Record<string, unknown>[] {
  let x = 0;
  let y = 0;
  return panels.map((panel, index) => {
    if (x + panel.width > 24) {
      x = 0;
      y += PANEL_HEIGHT;
    }
    const json = panelJson(panel, index + 1, { x, y });
    x += panel.width;
    return json;
  });
}

/**
 * The Grafana dashboard (JSON model, schemaVersion 39), the same for the same props: no timestamps, ids from the
 * panels' order. Its data source is a variable, so that it works with whatever the Prometheus data source is called.
 */
export function grafanaDashboard(props: DashboardProps): Record<string, unknown> {
  const nodes = `label_values(f2b_up${matchers(props.job === undefined ? undefined : `job=${promString(props.job)}`)}, node)`;
  return {
    uid: dashboardUid(props.name),
    title: 'fail2ban',
    description: "fail2ban on every k3s node, from the package's node agents (agent/metrics.json)",
    tags: ['fail2ban', 'k3s', 'security'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: DASHBOARD_SCHEMA_VERSION,
    version: 1,
    time: { from: 'now-24h', to: 'now' },
    refresh: '1m',
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        {
          type: 'datasource',
          name: DATASOURCE_VARIABLE,
          label: 'Data source',
          query: 'prometheus',
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          refresh: 1,
          regex: '',
          options: [],
        },
        {
          type: 'query',
          name: 'node',
          label: 'Node',
          datasource: DATASOURCE,
          definition: nodes,
          query: { query: nodes, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 },
          current: {},
          hide: 0,
          includeAll: true,
          allValue: '.*',
          multi: true,
          // Nodes come and go: read them again whenever the time range changes.
          refresh: 2,
          regex: '',
          sort: 1,
          options: [],
        },
      ],
    },
    panels: layout(dashboardPanels(props)),
  };
}
