import * as fs from 'node:fs';
import { App, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { loadFilters } from '../src/model/filter';
import { k3sApiserverAuditJail, k3sAuditPolicy } from '../src/model/k3s-audit';
import { configHash } from '../src/k8s/config-map';
import { CONFIG_HASH_ANNOTATION } from '../src/k8s/daemon-set';
import { Fail2banProps } from '../src/resolve/props';
import { buildApp } from '../src/main';
import { Fail2ban } from '../src/fail2ban';
import { GENERATED_HEADER, renderManifests } from '../src/outputs/manifests';
import { FIXTURE, fixture, withJail } from './fixture';
import { objectOf, parseDocs, parseIni, synth } from './helpers';

// GIVEN the test fixture's props (test/fixture.ts), WHEN synthesized, THEN the objects are as described. The
// homelab's own files are test/homelab.test.ts's.

const files = synth();
const namespace = objectOf(files, 'Namespace');
const configMap = objectOf(files, 'ConfigMap');
const daemonSet = objectOf(files, 'DaemonSet');
const podSpec = daemonSet.spec.template.spec;
const container = podSpec.containers[0];

function mount(path: string): any {
  return container.volumeMounts.find((m: any) => m.mountPath === path);
}
function volume(name: string): any {
  return podSpec.volumes.find((v: any) => v.name === name);
}
function env(name: string): string | undefined {
  return container.env.find((e: any) => e.name === name)?.value;
}
function hashOf(generated: Record<string, string>): string {
  return objectOf(generated, 'DaemonSet').spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
}

describe('generated files', () => {
  test('are the namespace, config map, daemon set, the operator-ban objects, the RBAC and the kustomization', () => {
    expect(Object.keys(files).sort()).toEqual([
      'configmap.yaml',
      'customresourcedefinition.yaml',
      'daemonset.yaml',
      'kustomization.yaml',
      'namespace.yaml',
      'resourcequota.yaml',
      'role.yaml',
      'rolebinding.yaml',
      'serviceaccount.yaml',
      'validatingadmissionpolicy.yaml',
      'validatingadmissionpolicybinding.yaml',
    ]);
  });

  test("without a ban manager there is no role for it, only the node agents'", () => {
    const roles = Object.values(synth({ banManager: undefined }))
      .flatMap(parseDocs)
      .filter((o) => o.kind.endsWith('Role') || o.kind.endsWith('RoleBinding'));
    expect(roles.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual(['Role fail2ban-operator-bans', 'RoleBinding fail2ban-operator-bans']);
  });

  test.each(Object.keys(files))('%s starts with a generated-file comment naming the command', (name) => {
    expect(files[name].split('\n')[0]).toBe(GENERATED_HEADER);
    expect(GENERATED_HEADER).toContain('npm run synth');
  });

  test('the kustomization lists every other file', () => {
    const kustomization = parseDocs(files['kustomization.yaml'])[0];
    expect(kustomization.kind).toBe('Kustomization');
    expect(kustomization.resources).toEqual(Object.keys(files).filter((f) => f !== 'kustomization.yaml').sort());
  });

  test('the same input gives byte-identical output', () => {
    expect(synth()).toEqual(files);
  });
});

describe('namespace', () => {
  test('is fail2ban and admits privileged pods in every Pod Security mode', () => {
    expect(namespace.metadata.name).toBe('fail2ban');
    for (const mode of ['enforce', 'audit', 'warn']) {
      expect(namespace.metadata.labels[`pod-security.kubernetes.io/${mode}`]).toBe('privileged');
    }
  });

  test('carries no metadata.namespace', () => {
    expect(namespace.metadata).not.toHaveProperty('namespace');
  });
});

describe('config map', () => {
  test("is fail2ban-config with jail.local, one key per filter file, the nftables actions' restart fix and the node agent's modules", () => {
    expect(configMap.metadata).toMatchObject({ name: 'fail2ban-config', namespace: 'fail2ban' });
    const keys = Object.keys(configMap.data).sort();
    const filterFiles = fs.readdirSync('filters').filter((file) => /\.(conf|inc)$/.test(file));
    expect(filterFiles).toEqual(expect.arrayContaining(['cri.inc', 'k3s-apiserver.conf', 'traefik-auth-json-cri.conf']));
    expect(keys.filter((key) => !key.startsWith('agent.'))).toEqual(['jail.local', 'nftables-batch.py', 'nftables-common.local', ...filterFiles].sort());
    for (const file of ['nftables-batch.py', 'nftables-common.local']) expect(configMap.data[file]).toBe(fs.readFileSync(`actions/${file}`, 'utf8'));
    expect(configMap.data['cri.inc']).toBe(fs.readFileSync('filters/cri.inc', 'utf8'));
    expect(keys).toContain('agent.broker.py');
  });

  test('keys are valid ConfigMap keys', () => {
    for (const key of Object.keys(configMap.data)) {
      expect(key).toMatch(/^[-._a-zA-Z0-9]+$/);
    }
  });

  test('jail.local renders [DEFAULT] and every jail from the props', () => {
    const ini = parseIni(configMap.data['jail.local']);
    expect(ini.DEFAULT).toEqual({
      // The props' list, then the cluster block's pod and service networks.
      ignoreip: '127.0.0.1/8 ::1 100.64.0.0/10 10.42.0.0/16 10.43.0.0/16',
      // The package's Python action, by its file name (fail2ban loads `*.py` actions so).
      banaction: 'nftables-batch.py',
      backend: 'auto',
      findtime: '10m',
      bantime: '1h',
      maxretry: '5',
    });
    expect(ini.sshd).toEqual({ enabled: 'true', logpath: '/var/log/host/auth.log', maxretry: '3', bantime: '24h' });
    expect(ini['k3s-apiserver']).toEqual({
      enabled: 'true',
      filter: 'k3s-apiserver',
      logpath: '/var/log/host/syslog',
      maxretry: '10',
      bantime: '1h',
    });
  });

  test('ships the audit-log jail turned off until the k3s server writes its audit log', () => {
    const ini = parseIni(configMap.data['jail.local']);
    expect(ini['k3s-apiserver-audit']).toEqual({
      enabled: 'false',
      filter: 'k3s-apiserver-audit',
      logpath: '/var/log/host/k3s-audit.log',
      maxretry: '10',
    });
  });

  test('the audit-log jail can be turned on, and then its log file is created on nodes that lack it', () => {
    const generated = synth({ jails: [k3sApiserverAuditJail({ enabled: true })] });
    expect(parseIni(objectOf(generated, 'ConfigMap').data['jail.local'])['k3s-apiserver-audit'].enabled).toBe('true');
    const spec = objectOf(generated, 'DaemonSet').spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'log-k3s-audit-log', hostPath: { path: '/var/log/k3s-audit.log', type: 'FileOrCreate' } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'log-k3s-audit-log', mountPath: '/var/log/host/k3s-audit.log', readOnly: true });
  });

  test('a turned-off jail creates no log file on the nodes', () => {
    expect(JSON.stringify(podSpec.volumes)).not.toContain('k3s-audit');
  });

  test('a jail with several log files writes them as continuation lines', () => {
    const generated = synth({ jails: [{ name: 'sshd', logPath: ['/var/log/host/auth.log', '/var/log/host/secure'] }] });
    const ini = parseIni(objectOf(generated, 'ConfigMap').data['jail.local']);
    expect(ini.sshd.logpath).toBe('/var/log/host/auth.log\n/var/log/host/secure');
  });

  test('the filter key holds the file from filters/ byte for byte', () => {
    const fs = require('node:fs');
    expect(configMap.data['k3s-apiserver.conf']).toBe(fs.readFileSync('filters/k3s-apiserver.conf', 'utf8'));
  });
});

describe('daemon set', () => {
  test('runs the pinned image, pulled only when missing', () => {
    expect(container.image).toBe('crazymax/fail2ban:1.0.2');
    expect(container.imagePullPolicy).toBe('IfNotPresent');
  });

  test("uses the host network with cluster DNS, and not the host's PID namespace", () => {
    expect(podSpec.hostNetwork).toBe(true);
    expect(podSpec.hostPID).toBeUndefined();
    expect(podSpec.dnsPolicy).toBe('ClusterFirstWithHostNet');
  });

  test('runs as root on a writable root filesystem (the image writes its configuration under /etc)', () => {
    expect(container.securityContext).toMatchObject({ runAsUser: 0, runAsNonRoot: false, readOnlyRootFilesystem: false });
    expect(podSpec.securityContext.runAsNonRoot).toBe(false);
  });

  test('tolerates the control-plane taint by default', () => {
    expect(podSpec.tolerations).toEqual([{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  test('can tolerate every taint', () => {
    const generated = synth({ tolerations: [kplus.NodeTaintQuery.any()] });
    expect(objectOf(generated, 'DaemonSet').spec.template.spec.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  test('mounts the host logs read-only at /var/log/host', () => {
    expect(mount('/var/log/host')).toMatchObject({ name: 'host-logs', readOnly: true });
    expect(volume('host-logs').hostPath).toEqual({ path: '/var/log', type: 'Directory' });
  });

  test('mounts jail.local and each filter by subPath, read-only', () => {
    expect(mount('/data/jail.d/jail.local')).toEqual({ name: 'config', mountPath: '/data/jail.d/jail.local', subPath: 'jail.local', readOnly: true });
    expect(mount('/data/filter.d/k3s-apiserver.conf')).toEqual({
      name: 'config',
      mountPath: '/data/filter.d/k3s-apiserver.conf',
      subPath: 'k3s-apiserver.conf',
      readOnly: true,
    });
    // What pod-log filters include goes beside them, where fail2ban looks for it (filter.d).
    expect(mount('/data/filter.d/cri.inc')).toEqual({ name: 'config', mountPath: '/data/filter.d/cri.inc', subPath: 'cri.inc', readOnly: true });
    expect(volume('config').configMap.name).toBe('fail2ban-config');
  });

  test('shares the host xtables lock', () => {
    expect(mount('/run/xtables.lock')).toMatchObject({ name: 'xtables-lock' });
    expect(mount('/run/xtables.lock').readOnly).toBeFalsy();
    expect(volume('xtables-lock').hostPath).toEqual({ path: '/run/xtables.lock', type: 'FileOrCreate' });
  });

  test('keeps the ban database where the image writes it: /data/db, from the host /var/lib/fail2ban', () => {
    expect(mount('/data/db')).toMatchObject({ name: 'database' });
    expect(mount('/data/db').readOnly).toBeFalsy();
    expect(volume('database').hostPath).toEqual({ path: '/var/lib/fail2ban', type: 'DirectoryOrCreate' });
    expect(mount('/var/lib/fail2ban')).toBeUndefined();
  });

  test('sets the time zone, stdout logging, log level and a purge age of at least the longest ban', () => {
    expect(env('TZ')).toBe('UTC');
    expect(env('F2B_LOG_TARGET')).toBe('STDOUT');
    expect(env('F2B_LOG_LEVEL')).toBe('INFO');
    expect(env('F2B_DB_PURGE_AGE')).toBe('24h');
  });

  test('raises the purge age to a longer ban time', () => {
    const generated = synth({ jails: [{ name: 'sshd', logPath: '/var/log/host/auth.log', banTime: Duration.days(3) }] });
    const env3d = objectOf(generated, 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env3d).toContainEqual({ name: 'F2B_DB_PURGE_AGE', value: '72h' });
  });

  test('probes liveness and readiness with fail2ban-client ping', () => {
    expect(container.livenessProbe.exec.command).toEqual(['fail2ban-client', 'ping']);
    expect(container.readinessProbe.exec.command).toEqual(['fail2ban-client', 'ping']);
  });

  test("a probe's timing comes from the props; what they leave out keeps its default", () => {
    const probed = objectOf(synth({ probes: { liveness: { periodSeconds: Duration.minutes(1) } } }), 'DaemonSet').spec.template.spec.containers[0];
    expect(probed.livenessProbe).toEqual({ ...container.livenessProbe, periodSeconds: 60 });
    expect(probed.readinessProbe).toEqual(container.readinessProbe);
    expect(container.livenessProbe).toMatchObject({ initialDelaySeconds: 30, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 3 });
  });

  test('a host path from the props is mounted read-only unless it says otherwise', () => {
    const generated = synth({ hostPathMounts: [{ hostPath: '/var/log/nginx', containerPath: '/mnt/nginx-logs' }, { hostPath: '/run/app.sock', containerPath: '/run/app.sock', type: kplus.HostPathVolumeType.SOCKET, readOnly: false }] });
    const spec = objectOf(generated, 'DaemonSet').spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'host-mnt-nginx-logs', hostPath: { path: '/var/log/nginx', type: 'Directory' } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'host-mnt-nginx-logs', mountPath: '/mnt/nginx-logs', readOnly: true });
    expect(spec.volumes).toContainEqual({ name: 'host-run-app-sock', hostPath: { path: '/run/app.sock', type: 'Socket' } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'host-run-app-sock', mountPath: '/run/app.sock', readOnly: false });
  });

  test('requests little and limits memory instead of the cdk8s-plus defaults', () => {
    expect(container.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });

  test('is node-critical, rolls one node at a time and gives fail2ban 30 s to remove its rules', () => {
    expect(podSpec.priorityClassName).toBe('system-node-critical');
    expect(daemonSet.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });

  test('selects pods by stable name/instance labels, never the construct-path hash', () => {
    expect(daemonSet.spec.selector).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'fail2ban', 'app.kubernetes.io/instance': 'fail2ban' },
    });
    expect(JSON.stringify(daemonSet)).not.toContain('cdk8s.io/metadata.addr');
    expect(daemonSet.spec.template.metadata.labels).toMatchObject(daemonSet.spec.selector.matchLabels);
  });

  test('every object carries the recommended labels', () => {
    for (const object of [namespace, configMap, daemonSet]) {
      expect(object.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'fail2ban',
        'app.kubernetes.io/instance': 'fail2ban',
        'app.kubernetes.io/version': '1.0.2',
        'app.kubernetes.io/component': 'intrusion-prevention',
        'app.kubernetes.io/part-of': 'fail2ban',
        'app.kubernetes.io/managed-by': 'cdk8s',
      });
    }
  });
});

describe('config hash annotation', () => {
  test('is the sha256 of the config map data', () => {
    const expected = require('node:crypto')
      .createHash('sha256')
      .update(JSON.stringify(Object.keys(configMap.data).sort().map((k) => [k, configMap.data[k]])))
      .digest('hex');
    expect(hashOf(files)).toBe(expected);
    expect(configHash(configMap.data)).toBe(expected);
  });

  test('does not depend on key order', () => {
    expect(configHash({ a: '1', b: '2' })).toBe(configHash({ b: '2', a: '1' }));
  });

  test('stays the same when nothing changes', () => {
    expect(hashOf(synth())).toBe(hashOf(files));
  });

  test('changes when a jail setting changes', () => {
    expect(hashOf(synth(withJail('sshd', { maxRetry: 4 })))).not.toBe(hashOf(files));
  });

  test('changes when a filter changes by one byte', () => {
    const filters = loadFilters().map((f) => (f.name === 'k3s-apiserver' ? { ...f, content: `${f.content} ` } : f));
    expect(hashOf(synth({ filters }))).not.toBe(hashOf(files));
  });

  test('counts files added after construction: the hash is taken when the pod template renders', () => {
    const chart = new Chart(new App(), 'late');
    const fail2ban = new Fail2ban(chart, 'fail2ban', FIXTURE);
    fail2ban.addConfigFile('extra.conf', '[Definition]\n', '/data/action.d/extra.conf');
    const late = renderManifests(chart.toJson());
    expect(objectOf(late, 'ConfigMap').data['extra.conf']).toBe('[Definition]\n');
    expect(hashOf(late)).toBe(configHash(objectOf(late, 'ConfigMap').data));
    expect(hashOf(late)).not.toBe(hashOf(files));
  });

  test('does not change for settings outside the config map', () => {
    expect(hashOf(synth({ image: 'crazymax/fail2ban:1.0.3' }))).toBe(hashOf(files));
  });
});

describe('audit policy for the k3s server', () => {
  test('drops authenticated traffic and keeps metadata of everything that failed authentication', () => {
    expect(k3sAuditPolicy()).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [{ level: 'None', userGroups: ['system:authenticated'] }, { level: 'Metadata' }],
    });
  });

  test('is one of the files synth writes', () => {
    expect(buildApp(FIXTURE).files?.auditPolicy).toEqual([k3sAuditPolicy()]);
  });
});

describe('ban manager access (for the "Manage Fail2ban" runner)', () => {
  const docs = Object.values(files).flatMap(parseDocs);
  const role = docs.find((o) => o.kind === 'Role' && o.metadata.name === 'fail2ban-ban-manager');

  test("may only manage operator bans and read the nodes' reports, in the fail2ban namespace", () => {
    expect(role.metadata).toMatchObject({ name: 'fail2ban-ban-manager', namespace: 'fail2ban' });
    expect(role.rules.flatMap((rule: any) => rule.resources)).toEqual(['operatorbans', 'fail2bannodes']);
  });

  test('has nothing cluster-wide', () => {
    expect(docs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
  });

  test("is bound to the workflow's user, named from its GitHub token's subject", () => {
    const subject = { kind: 'User', name: 'github-actions:repo:example-user/homelab:environment:fail2ban-bans', apiGroup: 'rbac.authorization.k8s.io' };
    const binding = docs.find((o) => o.kind === 'RoleBinding' && o.metadata.name === 'fail2ban-ban-manager');
    expect(binding).toMatchObject({ subjects: [subject], roleRef: { kind: 'Role', name: 'fail2ban-ban-manager' } });
  });
});

describe('lockout guards', () => {
  const cluster = { podCidr: '198.51.100.128/25', serviceCidr: '203.0.113.128/25', nodeAddresses: ['192.0.2.64/27'] };

  test('the cluster block joins the default ignoreip and every jail-level ignoreip', () => {
    const ini = parseIni(objectOf(synth({ cluster, ...withJail('sshd', { ignoreIp: ['192.0.2.5'] }) }), 'ConfigMap').data['jail.local']);
    expect(ini.DEFAULT.ignoreip).toBe('127.0.0.1/8 ::1 100.64.0.0/10 198.51.100.128/25 203.0.113.128/25 192.0.2.64/27');
    expect(ini.sshd.ignoreip).toBe('127.0.0.1/8 ::1 100.64.0.0/10 198.51.100.128/25 203.0.113.128/25 192.0.2.64/27 192.0.2.5');
  });

  function warnings(props: Partial<Fail2banProps>): string[] {
    return buildApp(fixture(props)).warnings ?? [];
  }

  test('synth warns when an API-server jail runs without a cluster block', () => {
    expect(warnings({ cluster: undefined })).toEqual([expect.stringContaining('jail "k3s-apiserver" watches the API server, but there is no cluster block')]);
  });

  test('synth warns when the cluster block lists no node', () => {
    expect(warnings({ cluster: { nodeAddresses: [] } })).toEqual([expect.stringContaining('cluster.nodeAddresses is empty')]);
    expect(warnings({ cluster: { nodeAddresses: [] } })[0]).toContain("Fix: in src/main.ts, put every node's INTERNAL-IP from `kubectl get nodes -o wide` into cluster.nodeAddresses");
  });

  test('no warning with node addresses, or without an API-server jail', () => {
    expect(warnings({ cluster })).toEqual([]);
    expect(warnings({ cluster: undefined, jails: FIXTURE.jails.filter((jail) => jail.name === 'sshd') })).toEqual([]);
  });
});

describe('security modes', () => {
  const leastPrivilege = {
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: false,
    runAsNonRoot: false,
    runAsUser: 0,
    runAsGroup: 0,
    capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };

  test("'net-admin' (the default): NET_ADMIN alone for fail2ban and the reset init container, no privileged, no host PID namespace", () => {
    expect(container.securityContext).toEqual(leastPrivilege);
    expect(podSpec.initContainers).toHaveLength(1);
    expect(podSpec.initContainers[0]).toMatchObject({ name: 'reset-firewall', image: 'crazymax/fail2ban:1.0.2', securityContext: leastPrivilege });
    expect(podSpec.initContainers[0].command[2]).toContain('nft delete table inet f2b-table');
    expect(podSpec.hostPID).toBeUndefined();
  });

  test("'privileged' (the replaced deployment's, asked for by name) runs both privileged, in the host PID namespace", () => {
    const spec = objectOf(synth({ securityMode: 'privileged' }), 'DaemonSet').spec.template.spec;
    expect(spec.hostPID).toBe(true);
    expect(spec).not.toHaveProperty('hostPid');
    for (const c of [spec.containers[0], spec.initContainers[0]]) {
      expect(c.securityContext).toMatchObject({ privileged: true, allowPrivilegeEscalation: true, runAsUser: 0, readOnlyRootFilesystem: false });
    }
  });
});
