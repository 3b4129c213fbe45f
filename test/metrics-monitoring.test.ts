import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Chart } from 'cdk8s';
import { ConfigMap } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import { MonitoringStackOptions } from '../src/features/metrics/options';
import { buildMonitoring, monitoringAlerts, monitoringPanels, MonitoringObjectsProps } from '../src/features/metrics/monitoring/monitoring-objects';
import { describeWithTools } from './fail2ban-tools';
import { closedSchema, crdSchema, crdValidator } from './harness/crd-schema';
import { catalogSeries, matcherLabels, METRIC_CATALOG, PROMETHEUS_SERIES, seriesNames, TARGET_LABELS } from './harness/metric-catalog';

// The monitoring objects of the metrics feature: GIVEN the props the feature passes (built here, not from
// src/main.ts) WHEN they are built in a chart of their own THEN the PodMonitor and the PrometheusRule are what
// prometheus-operator's CRDs accept, each alert fires when it should and only then (the generated rules, run by the
// real promtool), the Grafana dashboard is well-formed and queries through its data-source variable, every series
// any of them reads is one the agent exposes (agent/metrics.json), and each object exists only when its option is on.

const SELECTOR = { 'app.kubernetes.io/name': 'fail2ban', 'app.kubernetes.io/instance': 'fail2ban' };
const LABELS = { ...SELECTOR, 'app.kubernetes.io/version': '1.0.2', 'app.kubernetes.io/component': 'firewall', 'app.kubernetes.io/part-of': 'k3s', 'app.kubernetes.io/managed-by': 'cdk8s' };
const ALL_ON: MonitoringStackOptions = { podMonitor: true, alerts: true, dashboard: true, labels: { release: 'kube-prometheus-stack' } };
/** Two detecting jails, each with its operator jail, and sshd shared between the nodes (its mirror). */
const PROPS: MonitoringObjectsProps = {
  name: 'fail2ban',
  namespace: 'fail2ban',
  labels: LABELS,
  selectorLabels: SELECTOR,
  expectedJails: ['sshd', 'traefik-auth', 'sshd-operator', 'traefik-auth-operator', 'sshd-cluster'],
  detectingJails: ['sshd', 'traefik-auth'],
  options: ALL_ON,
};
/** The `job` prometheus-operator gives the PodMonitor's series: `<namespace>/<name>`. */
const JOB = 'fail2ban/fail2ban';

/** The objects built for these props, as the manifests would have them. */
function build(props: MonitoringObjectsProps = PROPS): any[] {
  const chart = new Chart(new App(), 'monitoring');
  buildMonitoring(chart, props);
  return chart.toJson();
}

function only(objects: any[], kind: string): any {
  const found = objects.filter((object) => object.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
}

const objects = build();
const podMonitor = only(objects, 'PodMonitor');
const prometheusRule = only(objects, 'PrometheusRule');
const dashboardMap = only(objects, 'ConfigMap');
const dashboard = JSON.parse(Object.values(dashboardMap.data as Record<string, string>)[0]);
const rules: any[] = prometheusRule.spec.groups.flatMap((group: any) => group.rules);

/** Every target of every panel. */
function targets(board: any): any[] {
  return board.panels.flatMap((panel: any) => panel.targets);
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fail2ban-monitoring-'));
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('the objects appear only when their option is on', () => {
  test.each<[string, MonitoringStackOptions, string[]]>([
    ['none', {}, []],
    ['all off explicitly', { podMonitor: false, alerts: false, dashboard: false, labels: { release: 'x' } }, []],
    ['podMonitor', { podMonitor: true }, ['PodMonitor']],
    ['alerts', { alerts: true }, ['PrometheusRule']],
    ['dashboard', { dashboard: true }, ['ConfigMap']],
    ['all', ALL_ON, ['ConfigMap', 'PodMonitor', 'PrometheusRule']],
  ])('%s', (_, options, kinds) => {
    expect(build({ ...PROPS, options }).map((object) => object.kind).sort()).toEqual(kinds);
  });

  test("each carries the package's labels and the stack's; the PodMonitor and the rule live in the package's namespace", () => {
    for (const object of objects) {
      expect(object.metadata.labels).toMatchObject({ ...LABELS, release: 'kube-prometheus-stack' });
    }
    expect(podMonitor.metadata).toMatchObject({ name: 'fail2ban', namespace: 'fail2ban' });
    expect(prometheusRule.metadata).toMatchObject({ name: 'fail2ban', namespace: 'fail2ban' });
  });
});

describe('the PodMonitor', () => {
  test("selects the DaemonSet's pods and scrapes the agent's named port every 30 s, adding the node's name as `node`", () => {
    expect(podMonitor.spec.selector).toEqual({ matchLabels: SELECTOR });
    expect(podMonitor.spec.podMetricsEndpoints).toEqual([
      {
        port: 'metrics',
        path: '/metrics',
        scheme: 'http',
        interval: '30s',
        relabelings: [{ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
      },
    ]);
  });

  test('scrapes the port the props name', () => {
    expect(only(build({ ...PROPS, portName: 'agent-metrics' }), 'PodMonitor').spec.podMetricsEndpoints[0].port).toBe('agent-metrics');
  });
});

describe("the PodMonitor and the PrometheusRule against prometheus-operator's CRD schemas (test/schemas/)", () => {

  const schemas = { PodMonitor: crdSchema('podmonitor.json'), PrometheusRule: crdSchema('prometheusrule.json') };
  const validate = { PodMonitor: crdValidator(schemas.PodMonitor), PrometheusRule: crdValidator(schemas.PrometheusRule) };
  const validateClosed = { PodMonitor: crdValidator(closedSchema(schemas.PodMonitor)), PrometheusRule: crdValidator(closedSchema(schemas.PrometheusRule)) };

  test.each([
    ['PodMonitor', podMonitor],
    ['PrometheusRule', prometheusRule],
  ] as const)('the generated %s validates, and no field of it would be pruned', (kind, object) => {
    expect(validate[kind](object)).toBe(true);
    const check = validateClosed[kind];
    expect(check(object) ? [] : check.errors).toEqual([]);
  });

  const endpoint = podMonitor.spec.podMetricsEndpoints[0];
  const group = prometheusRule.spec.groups[0];
  test.each<[string, 'PodMonitor' | 'PrometheusRule', unknown, boolean]>([
    ['PodMonitor: the port as a number', 'PodMonitor', { ...podMonitor, spec: { ...podMonitor.spec, podMetricsEndpoints: [{ ...endpoint, port: 9191 }] } }, false],
    ['PodMonitor: a relabeling action that does not exist', 'PodMonitor', { ...podMonitor, spec: { ...podMonitor.spec, podMetricsEndpoints: [{ ...endpoint, relabelings: [{ ...endpoint.relabelings[0], action: 'rename' }] }] } }, false],
    ['PodMonitor: an interval that is not a duration', 'PodMonitor', { ...podMonitor, spec: { ...podMonitor.spec, podMetricsEndpoints: [{ ...endpoint, interval: '30 seconds' }] } }, false],
    ['PodMonitor: no selector', 'PodMonitor', { ...podMonitor, spec: { podMetricsEndpoints: podMonitor.spec.podMetricsEndpoints } }, false],
    ['PodMonitor: a misspelled field, which the API server would prune', 'PodMonitor', { ...podMonitor, spec: { selector: podMonitor.spec.selector, podMetricEndpoints: podMonitor.spec.podMetricsEndpoints } }, true],
    ['PrometheusRule: a `for` that is not a duration', 'PrometheusRule', { ...prometheusRule, spec: { groups: [{ ...group, rules: [{ ...group.rules[0], for: '5 minutes' }] }] } }, false],
    ['PrometheusRule: a group without a name', 'PrometheusRule', { ...prometheusRule, spec: { groups: [{ rules: group.rules }] } }, false],
    ['PrometheusRule: a rule without expr', 'PrometheusRule', { ...prometheusRule, spec: { groups: [{ ...group, rules: [{ alert: 'Fail2banDown' }] }] } }, false],
    ['PrometheusRule: a partial_response_strategy Thanos does not know (the `(?i)` pattern is checked)', 'PrometheusRule', { ...prometheusRule, spec: { groups: [{ ...group, partial_response_strategy: 'maybe' }] } }, false],
    ['PrometheusRule: a misspelled field, which the API server would prune', 'PrometheusRule', { ...prometheusRule, spec: { groups: [{ ...group, rules: [{ ...group.rules[0], annotation: {} }] }] } }, true],
  ])('the check itself rejects a broken object: %s', (_, kind, broken, prunedOnly) => {
    expect((prunedOnly ? validateClosed : validate)[kind](broken)).toBe(false);
  });
});

describe('the alerts', () => {
  test('are named Fail2ban…, each with a severity, a summary, a description and a runbook', () => {
    expect(rules.map((rule) => rule.alert)).toEqual([
      'Fail2banDown',
      'Fail2banAgentDown',
      'Fail2banAgentsAbsent',
      'Fail2banJailNotRunning',
      'Fail2banAgentNotSyncing',
      'Fail2banBanSharingErrors',
      'Fail2banBanStorm',
    ]);
    for (const rule of rules) {
      expect(rule.alert).toMatch(/^Fail2ban[A-Z]\w+$/);
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(Object.keys(rule.annotations).sort()).toEqual(['description', 'runbook', 'summary']);
      for (const text of Object.values(rule.annotations)) expect(text).not.toBe('');
    }
  });

  test("select the PodMonitor's job: <namespace>/<name>", () => {
    for (const rule of rules) expect(rule.expr).toContain(`job="${JOB}"`);
  });

  test('are the structured list the README is written from', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(monitoringAlerts(PROPS).map((alert) => alert.alert));
  });

  test('without the PodMonitor: the f2b_* series by name alone, nothing on `up`; with a job of your own: that job, no absent check', () => {
    const noPodMonitor = monitoringAlerts({ ...PROPS, options: { alerts: true } });
    expect(noPodMonitor.map((alert) => alert.alert)).toEqual(['Fail2banDown', 'Fail2banJailNotRunning', 'Fail2banAgentNotSyncing', 'Fail2banBanSharingErrors', 'Fail2banBanStorm']);
    for (const alert of noPodMonitor) expect(alert.expr).not.toContain('job=');
    const ownJob = monitoringAlerts({ ...PROPS, options: { alerts: true }, scrapeJob: 'fail2ban-agents' });
    expect(ownJob.map((alert) => alert.alert)).not.toContain('Fail2banAgentsAbsent');
    expect(ownJob.find((alert) => alert.alert === 'Fail2banAgentDown')!.expr).toBe('up{job="fail2ban-agents"} == 0');
  });

  test('the jail count is checked against the expected jails, the storm counts the detecting jails only, at the threshold set', () => {
    const alerts = monitoringAlerts({ ...PROPS, options: { ...ALL_ON, banStormThreshold: 250 } });
    expect(alerts.find((alert) => alert.alert === 'Fail2banJailNotRunning')!.expr).toBe(`f2b_jail_count{job="${JOB}"} < 5 and f2b_up{job="${JOB}"} == 1`);
    expect(alerts.find((alert) => alert.alert === 'Fail2banBanStorm')!.expr).toBe(
      `sum by (jail) (increase(f2b_jail_banned_total{job="${JOB}", jail=~"sshd|traefik-auth"}[5m])) > 250`,
    );
    expect(monitoringAlerts({ ...PROPS, expectedJails: [] }).map((alert) => alert.alert)).not.toContain('Fail2banJailNotRunning');
  });
});

/** The labels of a series scraped from a node's agent through the PodMonitor. */
function target(node: string, address: string): Record<string, string> {
  return { job: JOB, namespace: 'fail2ban', pod: `fail2ban-${node}`, container: 'node-agent', endpoint: 'metrics', instance: `${address}:9191`, node };
}
const A = target('node-a', '10.0.0.1');
const B = target('node-b', '10.0.0.2');

/** An input series of a promtool unit test. */
function series(name: string, labels: Record<string, string>, values: string): { series: string; values: string } {
  return { series: `${name}{${Object.entries(labels).map(([key, value]) => `${key}="${value}"`).join(', ')}}`, values };
}

/** An alert the test expects: its labels (besides alertname and severity) and the value its templates show. */
interface Expected {
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** One scenario for one alert: what the agents report, and whether the alert fires at `at`. */
interface AlertCase {
  readonly alert: string;
  readonly scenario: string;
  readonly input: ReadonlyArray<{ series: string; values: string }>;
  readonly at: string;
  /** The alerts firing at `at`: none, for the cases where it must not fire. */
  readonly fires: readonly Expected[];
}

const CASES: readonly AlertCase[] = [
  {
    alert: 'Fail2banDown',
    scenario: 'fail2ban on node-a stops answering for 8 minutes',
    input: [series('f2b_up', A, '1 1 0x10'), series('f2b_up', B, '1x12')],
    at: '10m',
    fires: [{ labels: A, value: 0 }],
  },
  { alert: 'Fail2banDown', scenario: 'down for 3 minutes only (pending)', input: [series('f2b_up', A, '1 1 0x10')], at: '5m', fires: [] },
  { alert: 'Fail2banDown', scenario: 'a restart of 3 minutes, then up', input: [series('f2b_up', A, '1 0 0 0 1x10')], at: '10m', fires: [] },
  {
    alert: 'Fail2banAgentDown',
    scenario: "node-a's agent fails every scrape for 8 minutes",
    input: [series('up', A, '1 1 0x10'), series('up', B, '1x12')],
    at: '10m',
    fires: [{ labels: A, value: 0 }],
  },
  { alert: 'Fail2banAgentDown', scenario: 'every agent answers', input: [series('up', A, '1x12'), series('up', B, '1x12')], at: '10m', fires: [] },
  {
    alert: 'Fail2banAgentsAbsent',
    scenario: "no target of the PodMonitor's job for 20 minutes (another job's is no help)",
    input: [series('up', { job: 'kube-state-metrics' }, '1x25')],
    at: '20m',
    fires: [{ labels: { job: JOB }, value: 1 }],
  },
  { alert: 'Fail2banAgentsAbsent', scenario: 'the agents are scraped', input: [series('up', A, '1x25')], at: '20m', fires: [] },
  {
    alert: 'Fail2banJailNotRunning',
    scenario: 'node-a runs 4 of its 5 jails',
    input: [series('f2b_jail_count', A, '4x15'), series('f2b_up', A, '1x15'), series('f2b_jail_count', B, '5x15'), series('f2b_up', B, '1x15')],
    at: '10m',
    fires: [{ labels: A, value: 4 }],
  },
  { alert: 'Fail2banJailNotRunning', scenario: 'every jail runs', input: [series('f2b_jail_count', A, '5x15'), series('f2b_up', A, '1x15')], at: '10m', fires: [] },
  {
    alert: 'Fail2banJailNotRunning',
    scenario: 'fail2ban is down (that is Fail2banDown)',
    input: [series('f2b_jail_count', A, '0x15'), series('f2b_up', A, '0x15')],
    at: '10m',
    fires: [],
  },
  {
    alert: 'Fail2banAgentNotSyncing',
    scenario: "node-a's last read of the API is 12 minutes old; node-b's fail2ban snapshots are stale, not its API reads",
    input: [
      series('f2b_agent_last_sync_timestamp_seconds', { ...A, source: 'api' }, '0+60x3 180x20'),
      series('f2b_agent_last_sync_timestamp_seconds', { ...B, source: 'api' }, '0+60x20'),
      series('f2b_agent_last_sync_timestamp_seconds', { ...B, source: 'fail2ban' }, '0x20'),
    ],
    at: '15m',
    fires: [{ labels: { ...A, source: 'api' }, value: 720 }],
  },
  {
    alert: 'Fail2banAgentNotSyncing',
    scenario: 'stale for 3 minutes past the threshold only (pending)',
    input: [series('f2b_agent_last_sync_timestamp_seconds', { ...A, source: 'api' }, '0+60x3 180x20')],
    at: '12m',
    fires: [],
  },
  {
    alert: 'Fail2banBanSharingErrors',
    scenario: 'node-a counts a sharing error every minute; node-b errors of the orders',
    input: [series('f2b_agent_errors_total', { ...A, kind: 'sharing' }, '0+1x30'), series('f2b_agent_errors_total', { ...B, kind: 'orders' }, '0+1x30')],
    at: '20m',
    fires: [{ labels: { ...A, kind: 'sharing' }, value: 10 }],
  },
  {
    alert: 'Fail2banBanSharingErrors',
    scenario: 'one lone error',
    input: [series('f2b_agent_errors_total', { ...A, kind: 'sharing' }, '0x5 1x30')],
    at: '15m',
    fires: [],
  },
  {
    alert: 'Fail2banBanSharingErrors',
    scenario: 'one lone error, later',
    input: [series('f2b_agent_errors_total', { ...A, kind: 'sharing' }, '0x5 1x30')],
    at: '22m',
    fires: [],
  },
  {
    alert: 'Fail2banBanStorm',
    scenario: 'two nodes ban 150 addresses each in sshd within 5 minutes',
    input: [
      series('f2b_jail_banned_total', { ...A, jail: 'sshd' }, '0+30x20'),
      series('f2b_jail_banned_total', { ...B, jail: 'sshd' }, '0+30x20'),
      series('f2b_jail_banned_total', { ...A, jail: 'traefik-auth' }, '0+1x20'),
    ],
    at: '10m',
    fires: [{ labels: { jail: 'sshd' }, value: 300 }],
  },
  {
    alert: 'Fail2banBanStorm',
    scenario: "100 bans in 5 minutes (at the threshold), and the mirror's and the operator jail's bans, which repeat others",
    input: [
      series('f2b_jail_banned_total', { ...A, jail: 'sshd' }, '0+10x20'),
      series('f2b_jail_banned_total', { ...B, jail: 'sshd' }, '0+10x20'),
      series('f2b_jail_banned_total', { ...A, jail: 'sshd-cluster' }, '0+100x20'),
      series('f2b_jail_banned_total', { ...B, jail: 'sshd-operator' }, '0+500x20'),
    ],
    at: '10m',
    fires: [],
  },
];

/** Prometheus's `humanize` and `humanizeDuration`, for the values the cases use (below 1000, whole minutes). */
function formatValue(value: number, filter: string | undefined): string {
  if (filter === undefined) return String(value);
  if (filter === 'humanize' && value >= 1 && value < 1000) return String(Number(value.toPrecision(4)));
  if (filter === 'humanizeDuration' && value >= 60 && value < 3600) return `${Math.floor(value / 60)}m ${value % 60}s`;
  throw new Error(`the test cannot render {{ $value | ${filter} }} of ${value}`);
}

/** An annotation as Prometheus renders it for this alert: the templates the rules use, and no other. */
function render(template: string, expected: Expected): string {
  return template.replace(/\{\{\s*(.*?)\s*\}\}/g, (_, inner: string) => {
    const label = /^\$labels\.(\w+)$/.exec(inner);
    if (label) return expected.labels[label[1]] ?? '<no value>';
    const value = /^\$value(?:\s*\|\s*(\w+))?$/.exec(inner);
    if (value) return formatValue(expected.value, value[1]);
    throw new Error(`the test cannot render {{ ${inner} }}`);
  });
}

/** A promtool unit-test file for these cases, against `rulesFile`; annotations rendered from the rules themselves. */
function unitTests(rulesFile: string, ruleList: any[], cases: readonly AlertCase[]): string {
  return stringify({
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: cases.map((c) => {
      const rule = ruleList.find((r) => r.alert === c.alert);
      return {
        name: `${c.alert}: ${c.scenario}`,
        interval: '1m',
        input_series: c.input,
        alert_rule_test: [
          {
            eval_time: c.at,
            alertname: c.alert,
            exp_alerts: c.fires.map((expected) => ({
              exp_labels: { ...expected.labels, severity: rule.labels.severity },
              exp_annotations: Object.fromEntries(Object.entries(rule.annotations as Record<string, string>).map(([key, text]) => [key, render(text, expected)])),
            })),
          },
        ],
      };
    }),
  });
}

describe('every alert has a case where it fires and one where it does not', () => {
  test.each(rules.map((rule) => rule.alert))('%s', (alert) => {
    const cases = CASES.filter((c) => c.alert === alert);
    expect(cases.filter((c) => c.fires.length > 0).length).toBeGreaterThan(0);
    expect(cases.filter((c) => c.fires.length === 0).length).toBeGreaterThan(0);
  });
});

describeWithTools(['promtool'], 'the alert rules, run by the real promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
  });
  afterAll(() => fs.rmSync(dir, { recursive: true }));

  /** The PrometheusRule's spec, as the rules file Prometheus gets from the operator. */
  function writeRules(rule: any, file = 'rules.yaml'): string {
    fs.writeFileSync(path.join(dir, file), stringify(rule.spec));
    return file;
  }

  test('promtool check rules accepts the PrometheusRule spec', () => {
    const result = promtool('check', 'rules', path.join(dir, writeRules(prometheusRule)));
    expect(result).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) });
  });

  test.each([...new Set(CASES.map((c) => c.alert))])('%s fires and stays silent as the unit tests say', (alert) => {
    const file = path.join(dir, `${alert}.test.yaml`);
    fs.writeFileSync(file, unitTests(writeRules(prometheusRule), rules, CASES.filter((c) => c.alert === alert)));
    const result = promtool('test', 'rules', file);
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  test('the unit tests fail against other rules: a ban-storm threshold of 1000, a jail count of 4', () => {
    const other = only(build({ ...PROPS, expectedJails: PROPS.expectedJails.slice(0, 4), options: { ...ALL_ON, banStormThreshold: 1000 } }), 'PrometheusRule');
    const otherRules = other.spec.groups[0].rules;
    const file = path.join(dir, 'other.test.yaml');
    const cases = CASES.filter((c) => ['Fail2banBanStorm', 'Fail2banJailNotRunning'].includes(c.alert) && c.fires.length > 0);
    fs.writeFileSync(file, unitTests(writeRules(other, 'other-rules.yaml'), otherRules, cases));
    const result = promtool('test', 'rules', file);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('Fail2banBanStorm');
    expect(result.output).toContain('Fail2banJailNotRunning');
  });
});

describe('the dashboard ConfigMap', () => {
  test("is labelled for Grafana's sidecar and the stack, and kept from Flux's variable substitution", () => {
    expect(dashboardMap.metadata).toMatchObject({
      name: 'fail2ban-grafana-dashboard',
      namespace: 'fail2ban',
      labels: { ...LABELS, release: 'kube-prometheus-stack', grafana_dashboard: '1' },
      annotations: { 'kustomize.toolkit.fluxcd.io/substitute': 'disabled' },
    });
    expect(Object.keys(dashboardMap.data)).toEqual(['fail2ban.json']);
    expect(() => new ConfigMap(dashboardMap).validate()).not.toThrow();
  });

  test('goes to the dashboard namespace when one is set', () => {
    expect(only(build({ ...PROPS, options: { ...ALL_ON, dashboardNamespace: 'monitoring' } }), 'ConfigMap').metadata.namespace).toBe('monitoring');
  });

  test('is the same byte for byte at each build', () => {
    expect(only(build(), 'ConfigMap').data).toEqual(dashboardMap.data);
  });
});

describe('the dashboard', () => {
  test('has a schema version, a stable uid, and a data-source variable of type prometheus', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('k3s-fail2ban');
    expect(dashboard.uid.length).toBeLessThanOrEqual(40);
    expect(dashboard.templating.list.find((v: any) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(dashboard.templating.list.find((v: any) => v.name === 'node')).toMatchObject({
      type: 'query',
      datasource: { type: 'prometheus', uid: '${datasource}' },
      definition: `label_values(f2b_up{job="${JOB}"}, node)`,
      multi: true,
      includeAll: true,
    });
  });

  test('every panel and every target queries through ${datasource}, filtered by the picked nodes', () => {
    for (const panel of dashboard.panels) {
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets.length).toBeGreaterThan(0);
      for (const t of panel.targets) {
        expect(t.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(t.expr).toContain('node=~"$node"');
      }
    }
  });

  test('panels answer one question each, have unique ids and do not overlap in the 24-column grid', () => {
    expect(dashboard.panels.map((panel: any) => panel.title)).toEqual(monitoringPanels(PROPS).map((panel) => panel.title));
    expect(new Set(dashboard.panels.map((panel: any) => panel.id)).size).toBe(dashboard.panels.length);
    const taken = new Set<string>();
    for (const { gridPos, description } of dashboard.panels) {
      expect(description).toMatch(/\?/);
      expect(gridPos.x + gridPos.w).toBeLessThanOrEqual(24);
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
          expect(taken.has(`${x},${y}`)).toBe(false);
          taken.add(`${x},${y}`);
        }
      }
    }
  });

  test('covers what an operator asks: up, bans per jail and node, failures vs bans, top jails, sharing, pod-log files, errors', () => {
    const exprs = targets(dashboard).map((t) => t.expr);
    for (const series of ['f2b_up', 'up', 'f2b_jail_banned_current', 'f2b_jail_failed_total', 'f2b_jail_banned_total', 'f2b_agent_last_sync_timestamp_seconds', 'f2b_agent_sharing_applied_total', 'f2b_agent_sharing_refused_total', 'f2b_agent_pod_log_files', 'f2b_agent_errors_total']) {
      expect(exprs.some((expr) => seriesNames(expr).includes(series))).toBe(true);
    }
    expect(exprs.some((expr) => expr.startsWith('topk('))).toBe(true);
  });

  test('without a job (no PodMonitor), it leaves out the `up` query and selects by name', () => {
    const board = JSON.parse(Object.values(only(build({ ...PROPS, options: { dashboard: true } }), 'ConfigMap').data as Record<string, string>)[0]);
    for (const t of targets(board)) {
      expect(seriesNames(t.expr)).not.toContain('up');
      expect(t.expr).not.toContain('job=');
    }
  });
});

describe('every series an alert or a panel reads is in agent/metrics.json', () => {
  /** What is wrong with the series and labels an expression reads: names not in the catalog, labels they lack. */
  function catalogProblems(expr: string): string[] {
    const names = seriesNames(expr);
    const problems = names.filter((name) => !catalogSeries(name) && !PROMETHEUS_SERIES.includes(name)).map((name) => `${name} is not in agent/metrics.json`);
    const labelsOf = (name: string) => [...(catalogSeries(name)?.labels ?? []), ...TARGET_LABELS];
    for (const { series, labels } of matcherLabels(expr)) {
      problems.push(...labels.filter((label) => !labelsOf(series).includes(label)).map((label) => `${series} has no label ${label}`));
    }
    const known = new Set(names.flatMap(labelsOf));
    for (const match of expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
      problems.push(...match[1].split(',').map((label) => label.trim()).filter((label) => label !== '' && !known.has(label)).map((label) => `no series of the expression has a label ${label}`));
    }
    return problems;
  }

  const exprs = [
    ...rules.map((rule) => [`alert ${rule.alert}`, rule.expr]),
    ...dashboard.panels.flatMap((panel: any) => panel.targets.map((t: any) => [`panel "${panel.title}" ${t.refId}`, t.expr])),
    ...dashboard.templating.list.filter((v: any) => v.type === 'query').map((v: any) => [`variable ${v.name}`, v.definition.replace(/^label_values\((.*),\s*\w+\)$/, '$1')]),
  ] as Array<[string, string]>;

  test.each(exprs)('%s', (_, expr) => {
    expect(seriesNames(expr).length).toBeGreaterThan(0);
    expect(catalogProblems(expr)).toEqual([]);
  });

  test.each([
    ['a misspelled series', 'sum by (jail) (rate(f2b_jail_bannd_total{node=~"$node"}[5m]))', ['f2b_jail_bannd_total is not in agent/metrics.json']],
    ["a series of another exporter's", 'node_load1 > 2 and f2b_up == 1', ['node_load1 is not in agent/metrics.json']],
    ['a label the series lacks', 'f2b_agent_errors_total{type="sharing"}', ['f2b_agent_errors_total has no label type']],
    ['grouping by a label no series has', 'sum by (reasons) (f2b_agent_sharing_refused_total)', ['no series of the expression has a label reasons']],
  ])('the check itself catches %s', (_, expr, problems) => {
    expect(catalogProblems(expr)).toEqual(expect.arrayContaining(problems));
  });

  test('the scan finds the series of an expression, not its functions, keywords, labels or durations', () => {
    expect(seriesNames('time() - max by (node) (f2b_agent_last_sync_timestamp_seconds{source="api", node=~"$node"}) > 300 and on (node) up offset 5m')).toEqual([
      'f2b_agent_last_sync_timestamp_seconds',
      'up',
    ]);
    expect(seriesNames('topk(10, sum by (jail) (increase(f2b_jail_banned_total[$__range])))')).toEqual(['f2b_jail_banned_total']);
  });

  test('the catalog is read from agent/metrics.json', () => {
    const file = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'agent', 'metrics.json'), 'utf8'));
    expect(METRIC_CATALOG.map((s) => s.name)).toEqual(file.series.map((s: any) => s.name));
  });
});

describeWithTools(['promtool'], 'every PromQL expression of the dashboard parses (promtool)', () => {
  /** Grafana's variables replaced by what Grafana would put there, so that Prometheus's parser sees PromQL. */
  function asPromQL(expr: string): string {
    return expr.replace(/\$__rate_interval/g, '2m').replace(/\$__range/g, '24h').replace(/\$node/g, 'node-a|node-b');
  }

  /** `promtool check rules` on a throwaway rules file with each expression as a recording rule. */
  function checkExprs(exprs: string[]): { status: number | null; output: string } {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'dashboard.rules.yaml');
      fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr: asPromQL(expr) })) }] }));
      return promtool('check', 'rules', file);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  }

  test('every target', () => {
    const exprs = targets(dashboard).map((t) => t.expr);
    expect(checkExprs(exprs)).toEqual({ status: 0, output: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
  });

  test('the check itself rejects an expression that does not parse', () => {
    expect(checkExprs(['sum by (jail (f2b_jail_banned_current)']).status).not.toBe(0);
  });
});
