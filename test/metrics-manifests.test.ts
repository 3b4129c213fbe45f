import { Duration } from 'cdk8s';
import { buildApp } from '../src/main';
import { FIXTURE, FIXTURE_TRAEFIK, fixture } from './fixture';
import { objectOf, parseDocs, problems, synth } from './helpers';

// GIVEN the fixture with metrics on, as the props a user writes; THEN the agent serves them on the node's cluster
// address through a named port, the monitoring stack's objects are there only when asked for and built from the
// deployment (its jails, its pods' labels), and bad settings are refused.
const agentOf = (files: Record<string, string>) => objectOf(files, 'DaemonSet').spec.template.spec.containers.find((c: any) => c.name === 'node-agent');
const envOf = (container: any): Record<string, any> => Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe('the endpoint', () => {
  test("listens on the node's address in the cluster, the exporter's port, a snapshot at most every 10 s", () => {
    const agent = agentOf(synth({ metrics: {} }));
    expect(envOf(agent)).toMatchObject({ METRICS_ADDRESS: { fieldRef: { fieldPath: 'status.hostIP' } }, METRICS_PORT: '9191', METRICS_SNAPSHOT_SECONDS: '10' });
    expect(agent.ports).toEqual([{ containerPort: 9191, name: 'metrics' }]);
  });

  test('an explicit address and port, and no endpoint at all without the setting', () => {
    const agent = agentOf(synth({ metrics: { listenAddress: '127.0.0.1', port: 9292, snapshotInterval: Duration.seconds(30) } }));
    expect(envOf(agent)).toMatchObject({ METRICS_ADDRESS: '127.0.0.1', METRICS_PORT: '9292', METRICS_SNAPSHOT_SECONDS: '30' });
    const without = agentOf(synth());
    expect(Object.keys(envOf(without)).filter((name) => name.startsWith('METRICS_'))).toEqual([]);
    expect(without.ports).toBeUndefined();
  });

  test('every interface is allowed, with a warning naming the port and the fix', () => {
    const { warnings } = buildApp(fixture({ metrics: { listenAddress: '0.0.0.0' } }));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^metrics: listenAddress "0\.0\.0\.0" opens port 9191 on every interface .* Fix: /)]));
    expect((buildApp(fixture({ metrics: {} })).warnings ?? []).filter((warning) => warning.startsWith('metrics:'))).toEqual([]);
  });

  test('bad settings are refused, all at once', () => {
    const found = problems({ metrics: { port: 70000, listenAddress: 'node.local', snapshotInterval: Duration.millis(100) } });
    expect(found).toEqual([
      expect.stringContaining('metrics: port 70000 is not a port number'),
      expect.stringContaining('metrics: listenAddress "node.local" is neither'),
      expect.stringContaining('metrics: snapshotInterval 0.1 s is not a whole number of seconds of at least 1'),
    ]);
  });
});

describe('the monitoring stack’s objects', () => {
  const props = { jails: [...FIXTURE.jails, FIXTURE_TRAEFIK], metrics: { monitoring: { podMonitor: true, alerts: true, dashboard: true, labels: { release: 'kube-prometheus-stack' } } } };
  const objects = Object.values(synth(props)).flatMap(parseDocs);
  const kinds = (list: any[]) => list.map((o) => o.kind);

  test('only when asked for', () => {
    expect(kinds(objects)).toEqual(expect.arrayContaining(['PodMonitor', 'PrometheusRule']));
    const plain = Object.values(synth({ metrics: {} })).flatMap(parseDocs);
    expect(kinds(plain)).not.toContain('PodMonitor');
    expect(kinds(plain)).not.toContain('PrometheusRule');
    expect(plain.filter((o) => o.kind === 'ConfigMap')).toHaveLength(1);
  });

  test("the PodMonitor selects the DaemonSet's pods by its selector, scrapes the agent's named port, and carries the stack's label", () => {
    const podMonitor = objects.find((o) => o.kind === 'PodMonitor');
    const daemonSet = objects.find((o) => o.kind === 'DaemonSet');
    expect(podMonitor.spec.selector.matchLabels).toEqual(daemonSet.spec.selector.matchLabels);
    expect(podMonitor.spec.podMetricsEndpoints[0].port).toBe('metrics');
    expect(podMonitor.metadata.labels.release).toBe('kube-prometheus-stack');
  });

  test('the jail alert expects every jail fail2ban runs: the configured ones and each operator jail', () => {
    const rules = objects.find((o) => o.kind === 'PrometheusRule').spec.groups.flatMap((group: any) => group.rules);
    const notRunning = rules.find((rule: any) => rule.alert === 'Fail2banJailNotRunning');
    // sshd, k3s-apiserver, traefik-auth (the audit jail is off) and their three operator jails
    expect(notRunning.expr).toContain('< 6');
    expect(rules.find((rule: any) => rule.alert === 'Fail2banBanStorm').expr).toContain('sshd|k3s-apiserver|traefik-auth');
  });
});
