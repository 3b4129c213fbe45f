import * as fs from 'node:fs';
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { loadFilters } from '../src/model/filter';
import { JailProps } from '../src/model/jail';
import { CONFIG_HASH_ANNOTATION } from '../src/k8s/daemon-set';
import { renderYamlFile } from '../src/outputs/manifests';
import { summarizeChanges } from '../src/outputs/summary';
import { FIXTURE_AUDIT, FIXTURE_DEFAULTS, FIXTURE_K3S_APISERVER, FIXTURE_SSHD } from './fixture';
import { objectOf, synth } from './helpers';

// GIVEN the test fixture (test/fixture.ts) and a change of its props, WHEN summarized, THEN the lines an operator reads.
const [defaults, sshd, k3sApiserver, audit] = [FIXTURE_DEFAULTS, FIXTURE_SSHD, FIXTURE_K3S_APISERVER, FIXTURE_AUDIT];

const current = synth();

/** The first 8 hex digits of a synth's config hash, as the roll line shows it. */
function hash(files: Record<string, string>): string {
  return `${objectOf(files, 'DaemonSet').spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION].slice(0, 8)}…`;
}

function jails(...list: JailProps[]): { jails: JailProps[] } {
  return { jails: list };
}

const NO_CHANGE_TO = 'no change to: ';

/**
 * The summary without its `no change to:` line, which must name `unchanged`: that line also lists every object this
 * test does not touch, which other features add.
 */
function changes(lines: string[], unchanged: string[]): string[] {
  const last = lines[lines.length - 1];
  expect(last.startsWith(NO_CHANGE_TO)).toBe(true);
  expect(last.slice(NO_CHANGE_TO.length).split(', ')).toEqual(expect.arrayContaining(unchanged));
  return lines.slice(0, -1);
}

/** The lines without the agent's and broker's jail lists (BROKER_JAILS, OPERATOR_JAILS), which name every jail. */
function withoutAgentEnv(lines: string[]): string[] {
  const env = lines.filter((line) => /^DaemonSet fail2ban: env (BROKER_JAILS|OPERATOR_JAILS): /.test(line));
  expect(env).toHaveLength(2);
  return lines.filter((line) => !env.includes(line));
}

describe('summarizeChanges', () => {
  test('nothing changed', () => {
    expect(summarizeChanges(current, synth())).toEqual(['no change']);
  });

  test('a change to comments only is no change to the cluster', () => {
    const recommented = Object.fromEntries(Object.entries(current).map(([file, content]) => [file, `# another header\n${content}`]));
    expect(summarizeChanges(current, recommented)).toEqual(['no change']);
  });

  test('a jail setting', () => {
    const after = synth(jails({ ...sshd, maxRetry: 4, banTime: Duration.hours(48) }, k3sApiserver, audit));
    expect(changes(summarizeChanges(current, after), ['Namespace fail2ban'])).toEqual([
      'jail sshd: bantime 24h → 48h, maxretry 3 → 4',
      // The ban database keeps bans as long as the longest ban time.
      'DaemonSet fail2ban: env F2B_DB_PURGE_AGE: 24h → 48h',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)}; pod template: env)`,
    ]);
  });

  test('a jail setting dropped falls back to the default', () => {
    const after = synth(jails({ name: 'sshd', logPath: sshd.logPath, maxRetry: 3 }, k3sApiserver, audit));
    expect(summarizeChanges(current, after)[0]).toBe('jail sshd: bantime 24h → (default)');
  });

  test('a new jail, with several log files', () => {
    const nginx = { name: 'nginx-http-auth', logPath: ['/var/log/host/nginx/error.log', '/var/log/host/nginx/other.log'], maxRetry: 5 };
    const after = synth(jails(sshd, k3sApiserver, audit, nginx));
    // Every jail brings its operator jail, and operator bans may name it (the CRD's enum, the agent's settings).
    expect(withoutAgentEnv(changes(summarizeChanges(current, after), ['Namespace fail2ban']))).toEqual([
      'jail nginx-http-auth: added (enabled, logpath /var/log/host/nginx/error.log /var/log/host/nginx/other.log, maxretry 5)',
      'jail nginx-http-auth-operator: added (enabled, filter , port %(nginx-http-auth/port)s, protocol %(nginx-http-auth/protocol)s, bantime -1)',
      'CustomResourceDefinition operatorbans.fail2ban.homelab.internal: changed (versions)',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)}; pod template: env)`,
    ]);
  });

  test('a removed jail', () => {
    const after = synth(jails(sshd, k3sApiserver));
    expect(changes(summarizeChanges(current, after), ['Namespace fail2ban'])).toEqual([
      'jail k3s-apiserver-audit: removed',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)})`,
    ]);
  });

  test('a change to [DEFAULT]', () => {
    const after = synth({ defaults: { ...defaults, findTime: Duration.minutes(20) } });
    expect(changes(summarizeChanges(current, after), ['Namespace fail2ban'])).toEqual([
      '[DEFAULT]: findtime 10m → 20m',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)})`,
    ]);
  });

  test('a changed filter', () => {
    const filters = loadFilters().map((f) => (f.name === 'k3s-apiserver' ? { ...f, content: `${f.content}ignoreregex = ^x$\n` } : f));
    const after = synth({ filters });
    expect(changes(summarizeChanges(current, after), ['Namespace fail2ban'])).toEqual([
      'filter k3s-apiserver.conf: changed (+1 -0 lines)',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)})`,
    ]);
  });

  test('a new filter', () => {
    const after = synth({ filters: [...loadFilters(), { name: 'nginx-extra', content: '[Definition]\nfailregex = ^<HOST> denied$\n' }] });
    expect(changes(summarizeChanges(current, after), ['Namespace fail2ban'])).toEqual([
      'filter nginx-extra.conf: added',
      'DaemonSet fail2ban: mount /data/filter.d/nginx-extra.conf added (config key nginx-extra.conf, read-only)',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)}; pod template: volumeMounts)`,
    ]);
  });

  test('a new image, whose version label every object carries', () => {
    const lines = summarizeChanges(current, synth({ image: 'crazymax/fail2ban:1.0.3' }));
    expect(lines.slice(0, 2)).toEqual([
      'DaemonSet fail2ban: image crazymax/fail2ban:1.0.2 → crazymax/fail2ban:1.0.3',
      'DaemonSet fail2ban: pods will roll on every node (pod template: labels, image)',
    ]);
    const [change, objects] = lines[2].split(' on ');
    expect(change).toBe('label app.kubernetes.io/version 1.0.2 → 1.0.3');
    expect(objects.split(', ')).toEqual(expect.arrayContaining(['ConfigMap fail2ban-config', 'DaemonSet fail2ban', 'Namespace fail2ban']));
    expect(lines).toHaveLength(3);
  });

  test('a changed volume', () => {
    expect(changes(summarizeChanges(current, synth({ databaseHostPath: '/srv/fail2ban' })), ['ConfigMap fail2ban-config', 'Namespace fail2ban'])).toEqual([
      'DaemonSet fail2ban: volume database: host /var/lib/fail2ban (DirectoryOrCreate) → host /srv/fail2ban (DirectoryOrCreate)',
      'DaemonSet fail2ban: pods will roll on every node (pod template: volumes)',
    ]);
  });

  test('a jail turned on, with the volume its optional log needs', () => {
    const after = synth(jails(sshd, k3sApiserver, { ...audit, enabled: true }));
    expect(withoutAgentEnv(changes(summarizeChanges(current, after), ['Namespace fail2ban']))).toEqual([
      'jail k3s-apiserver-audit: enabled false → true',
      'jail k3s-apiserver-audit-operator: added (enabled, filter , port %(k3s-apiserver-audit/port)s, protocol %(k3s-apiserver-audit/protocol)s, bantime -1)',
      'CustomResourceDefinition operatorbans.fail2ban.homelab.internal: changed (versions)',
      'DaemonSet fail2ban: volume log-k3s-audit-log added (host /var/log/k3s-audit.log (FileOrCreate))',
      'DaemonSet fail2ban: mount /var/log/host/k3s-audit.log added (log-k3s-audit-log, read-only)',
      `DaemonSet fail2ban: pods will roll on every node (config hash ${hash(current)} → ${hash(after)}; pod template: volumeMounts, env, volumes)`,
    ]);
  });

  test('a changed environment variable', () => {
    expect(changes(summarizeChanges(current, synth({ timeZone: 'Europe/Berlin' })), ['ConfigMap fail2ban-config', 'Namespace fail2ban'])).toEqual([
      'DaemonSet fail2ban: env TZ: UTC → Europe/Berlin',
      'DaemonSet fail2ban: pods will roll on every node (pod template: env)',
    ]);
  });

  test('another pod-template change, by path', () => {
    const resources = { cpu: { request: kplus.Cpu.millis(50) }, memory: { request: Size.mebibytes(64), limit: Size.mebibytes(512) } };
    expect(changes(summarizeChanges(current, synth({ resources })), ['ConfigMap fail2ban-config', 'Namespace fail2ban'])).toEqual([
      'DaemonSet fail2ban: spec.template.spec.containers[fail2ban].resources.limits.memory 256Mi → 512Mi',
      'DaemonSet fail2ban: pods will roll on every node (pod template: resources)',
    ]);
  });

  test('the first synth: everything is added', () => {
    const lines = summarizeChanges({}, current);
    // The cluster's own ranges join ignoreip after the configured ones.
    expect(lines[0]).toMatch(/^\[DEFAULT\]: added \(ignoreip 127\.0\.0\.1\/8 ::1 100\.64\.0\.0\/10\b.*, banaction nftables-batch\.py, backend auto, findtime 10m, bantime 1h, maxretry 5\)$/);
    // Every file of filters/, in name order.
    const filterLines = fs.readdirSync('filters').filter((file) => /\.(conf|inc)$/.test(file)).sort().map((file) => `filter ${file}: added`);
    expect(filterLines).toContain('filter k3s-apiserver.conf: added');
    const objects = 6 + filterLines.length;
    expect(lines.slice(1, objects)).toEqual([
      'jail sshd: added (enabled, logpath /var/log/host/auth.log, bantime 24h, maxretry 3)',
      'jail k3s-apiserver: added (enabled, filter k3s-apiserver, logpath /var/log/host/syslog, bantime 1h, maxretry 10)',
      'jail k3s-apiserver-audit: added (disabled, filter k3s-apiserver-audit, logpath /var/log/host/k3s-audit.log, maxretry 10)',
      'jail sshd-operator: added (enabled, filter , port %(sshd/port)s, protocol %(sshd/protocol)s, bantime -1)',
      'jail k3s-apiserver-operator: added (enabled, filter , port %(k3s-apiserver/port)s, protocol %(k3s-apiserver/protocol)s, bantime -1)',
      ...filterLines,
    ]);
    expect(lines.slice(objects)).toEqual(
      expect.arrayContaining(['ConfigMap fail2ban-config: added (namespace fail2ban)', 'DaemonSet fail2ban: added (namespace fail2ban)', 'Namespace fail2ban: added']),
    );
    expect(lines.slice(objects).every((line) => / added( \(namespace fail2ban\))?$/.test(line))).toBe(true);
  });

  test('objects of another kind: added, changed by field, removed', () => {
    const role = (verbs: string[]) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'log-reader', namespace: 'fail2ban' },
      rules: [{ apiGroups: [''], resources: ['pods/log'], verbs }],
    });
    const policy = (ports: number[]) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-ingress', namespace: 'fail2ban' },
      spec: { podSelector: {}, ingress: [{ ports: ports.map((port) => ({ port })) }] },
    });
    const withExtras = (verbs: string[], ports: number[]) => ({
      ...current,
      'extra-role.yaml': renderYamlFile([role(verbs)]),
      'extra-networkpolicy.yaml': renderYamlFile([policy(ports)]),
    });
    const unchanged = ['ConfigMap fail2ban-config', 'DaemonSet fail2ban', 'Namespace fail2ban'];
    expect(changes(summarizeChanges(current, withExtras(['get'], [22])), unchanged)).toEqual([
      'NetworkPolicy deny-ingress: added (namespace fail2ban)',
      'Role log-reader: added (namespace fail2ban)',
    ]);
    expect(changes(summarizeChanges(withExtras(['get'], [22]), withExtras(['get', 'list'], [22, 6443])), unchanged)).toEqual([
      'NetworkPolicy deny-ingress: changed (ingress)',
      'Role log-reader: changed (rules)',
    ]);
    expect(changes(summarizeChanges(withExtras(['get'], [22]), current), unchanged)).toEqual([
      'NetworkPolicy deny-ingress: removed (namespace fail2ban)',
      'Role log-reader: removed (namespace fail2ban)',
    ]);
  });

  test('a new namespace moves every namespaced object', () => {
    const lines = summarizeChanges(current, synth({ namespace: 'security' }));
    expect(lines.filter((line) => /^(ConfigMap|DaemonSet|Namespace) /.test(line))).toEqual([
      'ConfigMap fail2ban-config: removed (namespace fail2ban)',
      'ConfigMap fail2ban-config: added (namespace security)',
      'DaemonSet fail2ban: removed (namespace fail2ban)',
      'DaemonSet fail2ban: added (namespace security)',
      'Namespace fail2ban: removed',
      'Namespace security: added',
    ]);
  });
});
