import * as fs from 'node:fs';
import { Fail2banConfigError } from '../src/model/errors';
import { Fail2banProps } from '../src/resolve/props';
import { buildApp } from '../src/main';
import { AGENT_DIR } from '../src/k8s/node-agent';
import { FIXTURE, fixture } from './fixture';
import { modelOf, objectOf, parseDocs, parseIni, synth } from './helpers';

const cluster = { nodeAddresses: ['192.0.2.240/28'] };
const banSharing = { kubernetesVersion: 'v1.31.4+k3s1', jails: ['sshd'] };
const files = synth({ cluster, banSharing });
const all = Object.values(files).flatMap(parseDocs);
const byKind = (kind: string) => all.filter((o) => o.kind === kind);
const daemonSet = objectOf(files, 'DaemonSet');
const spec = daemonSet.spec.template.spec;
const agent = spec.containers.find((c: any) => c.name === 'node-agent');
const fail2ban = spec.containers.find((c: any) => c.name === 'fail2ban');
const configMap = objectOf(files, 'ConfigMap');
const ini = parseIni(configMap.data['jail.local']);

function problems(props: Partial<Fail2banProps>): string[] {
  try {
    buildApp(fixture(props));
    return [];
  } catch (error) {
    return error instanceof Fail2banConfigError ? [...error.problems] : [String(error)];
  }
}

test.each(all.filter((o) => o.metadata).map((o) => [`${o.kind} ${o.metadata.name}`, o]))('%s validates against the upstream OpenAPI schema', (_, object) => {
  const Model = modelOf(object);
  expect(() => new Model(object).validate()).not.toThrow();
});

test('sharing is off unless turned on', () => {
  expect(FIXTURE.banSharing).toBeUndefined();
  expect(Object.keys(synth())).not.toContain('customresourcedefinition.yaml');
});

describe('the ledger objects', () => {
  test('a namespaced Ban CRD in the configured group', () => {
    const [crd] = byKind('CustomResourceDefinition');
    expect(crd.metadata.name).toBe('bans.fail2ban.homelab.internal');
    expect(crd.spec).toMatchObject({ group: 'fail2ban.homelab.internal', scope: 'Namespaced', names: { kind: 'Ban', plural: 'bans' } });
    const schema = crd.spec.versions[0].schema.openAPIV3Schema;
    expect(schema.properties.spec.required).toEqual(['ip', 'jail', 'node', 'bannedAt', 'banTime']);
  });

  test('RBAC for the fail2ban ServiceAccount covers bans and nothing else', () => {
    const role = byKind('Role').find((r) => r.metadata.name === 'fail2ban-bans');
    expect(role.rules).toEqual([{ apiGroups: ['fail2ban.homelab.internal'], resources: ['bans'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] }]);
    const binding = byKind('RoleBinding').find((r) => r.metadata.name === 'fail2ban-bans');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'fail2ban', namespace: 'fail2ban' }]);
  });

  test('an admission policy, bound with Deny, matches only that ServiceAccount', () => {
    const [policy] = byKind('ValidatingAdmissionPolicy');
    const [binding] = byKind('ValidatingAdmissionPolicyBinding');
    expect(policy.spec.matchConditions[0].expression).toBe("request.userInfo.username == 'system:serviceaccount:fail2ban:fail2ban'");
    expect(policy.spec.matchConstraints.resourceRules[0].operations).toEqual(['CREATE', 'UPDATE', 'DELETE']);
    expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
  });
});

test('the ban manager may delete ledger records (unban of a shared ban), nothing more', () => {
  const role = byKind('Role').find((r) => r.metadata.name === 'fail2ban-ban-manager');
  expect(role.rules).toContainEqual({ apiGroups: ['fail2ban.homelab.internal'], resources: ['bans'], verbs: ['delete'] });
});

describe('the pod', () => {
  test('runs as the fail2ban ServiceAccount without mounting its token automatically', () => {
    expect(spec.serviceAccountName).toBe('fail2ban');
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('the API token is mounted only in the agent', () => {
    const token = spec.volumes.find((v: any) => v.projected);
    expect(token.projected.sources[0]).toEqual({ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } });
    const mountsOf = (c: any) => (c.volumeMounts ?? []).map((m: any) => m.name);
    expect(mountsOf(agent)).toContain(token.name);
    for (const container of [fail2ban, ...spec.initContainers]) {
      expect(mountsOf(container)).not.toContain(token.name);
    }
  });

  test('both containers share /var/run/fail2ban in memory', () => {
    const run = spec.volumes.find((v: any) => v.name === 'run');
    expect(run.emptyDir).toEqual({ medium: 'Memory' });
    for (const container of [fail2ban, agent]) {
      expect(container.volumeMounts).toContainEqual(expect.objectContaining({ name: 'run', mountPath: '/var/run/fail2ban' }));
    }
  });

  test('the agent alone keeps its state in a host directory, so that pod restarts keep it', () => {
    const state = spec.volumes.find((v: any) => v.name === 'ban-sharing-state');
    expect(state.hostPath).toEqual({ path: '/var/lib/fail2ban/ban-sharing', type: 'DirectoryOrCreate' });
    expect(agent.volumeMounts).toContainEqual(expect.objectContaining({ name: 'ban-sharing-state', mountPath: '/var/lib/ban-sharing' }));
    expect(agent.env).toContainEqual({ name: 'STATE_FILE', value: '/var/lib/ban-sharing/state.json' });
    expect(fail2ban.volumeMounts.map((m: any) => m.name)).not.toContain('ban-sharing-state');
  });

  test('the agent has no capabilities and a read-only root filesystem', () => {
    expect(agent.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(agent.image).toBe(fail2ban.image);
  });

  test('the agent knows its node, the shared jails and a never-ban list that covers ignoreip and the cluster', () => {
    const env = Object.fromEntries(agent.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env.NODE_NAME).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(JSON.parse(env.SHARED_JAILS)).toEqual({ sshd: { mirror: 'sshd-cluster', maxBanTime: 86400 } });
    const neverBan = env.NEVER_BAN.split(' ');
    expect(neverBan).toEqual(expect.arrayContaining(ini.DEFAULT.ignoreip.split(' ')));
    expect(neverBan).toEqual(expect.arrayContaining(['192.0.2.240/28', '10.42.0.0/16', '10.43.0.0/16']));
    expect(env.TZ).toBe(fail2ban.env.find((e: any) => e.name === 'TZ').value);
  });

  test('the agent runs as a package, every module from the ConfigMap byte for byte, mounted in one volume by items', () => {
    const modules = fs.readdirSync(AGENT_DIR).filter((file) => file.endsWith('.py') || file.endsWith('.json'));
    expect(modules).toEqual(expect.arrayContaining(['__main__.py', 'agent.py', 'records.py', 'ban_record.json']));
    for (const file of modules) expect(configMap.data[`agent.${file}`]).toBe(fs.readFileSync(`agent/${file}`, 'utf8'));
    expect(Object.keys(configMap.data).filter((key) => key.startsWith('agent.tests'))).toEqual([]);
    const code = spec.volumes.find((v: any) => v.name === 'node-agent');
    expect(code.configMap.items).toEqual(modules.sort().map((file) => ({ key: `agent.${file}`, path: `agent/${file}` })));
    expect(agent.volumeMounts).toContainEqual({ name: 'node-agent', mountPath: '/opt/node-agent', readOnly: true });
    expect(agent.command).toEqual(['/usr/bin/python3', '-m', 'agent']);
    expect(agent.workingDir).toBe('/opt/node-agent');
    expect(fail2ban.volumeMounts.map((m: any) => m.name)).not.toContain('node-agent');
  });

  test("a shared jail's own ignoreip is never banned from a record either", () => {
    const jails = FIXTURE.jails.map((jail) => (jail.name === 'sshd' ? { ...jail, ignoreIp: ['203.0.113.128/25'] } : jail));
    const agent = objectOf(synth({ cluster, banSharing, jails }), 'DaemonSet').spec.template.spec.containers.find((c: any) => c.name === 'node-agent');
    expect(agent.env.find((e: any) => e.name === 'NEVER_BAN').value.split(' ')).toContain('203.0.113.128/25');
  });

  test('the namespace holds at most maxRecords Ban objects, and each node applies at most maxRecordsPerNode of one origin', () => {
    expect(objectOf(files, 'ResourceQuota')).toMatchObject({ metadata: { name: 'fail2ban-bans', namespace: 'fail2ban' }, spec: { hard: { 'count/bans.fail2ban.homelab.internal': 20000 } } });
    expect(agent.env).toContainEqual({ name: 'MAX_RECORDS_PER_NODE', value: '5000' });
    const tighter = objectOf(synth({ cluster, banSharing: { ...banSharing, maxRecords: 900, maxRecordsPerNode: 300 } }), 'ResourceQuota');
    expect(tighter.spec.hard['count/bans.fail2ban.homelab.internal']).toBe(900);
  });

  test('the publish action ships in the ConfigMap, byte for byte', () => {
    expect(configMap.data['cluster-publish.conf']).toBe(fs.readFileSync('actions/cluster-publish.conf', 'utf8'));
    expect(fail2ban.volumeMounts).toContainEqual({ name: 'config', mountPath: '/data/action.d/cluster-publish.conf', subPath: 'cluster-publish.conf', readOnly: true });
  });
});

describe('jail.local', () => {
  test('the shared jail publishes, besides banning as before', () => {
    expect(ini.sshd.action).toBe('%(action_)s\ncluster-publish');
    expect(ini['k3s-apiserver'].action).toBeUndefined();
  });

  test('its mirror jail has no filter, no log and no publish action, and holds bans at least as long', () => {
    expect(ini['sshd-cluster']).toEqual({ enabled: 'true', filter: '', port: '%(sshd/port)s', protocol: '%(sshd/protocol)s', bantime: '24h' });
  });

  test('the publish action flushes on stop and marks bans restored after a restart', () => {
    const action = parseIni(configMap.data['cluster-publish.conf']).Definition;
    expect(action.actionflush).toBe('true');
    expect(action.norestored).toBeUndefined();
    expect(action._event).toContain('"restored": %%s');
    expect(action._event).toContain("'<restored>'");
  });
});

describe('synth refuses sharing', () => {
  test.each(['1.30', 'v1.29.3+k3s1', 'latest'])('on Kubernetes "%s"', (kubernetesVersion) => {
    expect(problems({ cluster, banSharing: { ...banSharing, kubernetesVersion } })).toEqual([expect.stringContaining(`kubernetesVersion "${kubernetesVersion}" is below 1.31`)]);
  });

  test('without node addresses in the never-ban list', () => {
    expect(problems({ banSharing })).toEqual([expect.stringContaining('no never-ban list that covers the nodes')]);
    expect(problems({ cluster: { nodeAddresses: [] }, banSharing })).toEqual([expect.stringContaining('no never-ban list that covers the nodes')]);
  });

  test('of a jail whose name cannot start a record name', () => {
    const jails = [...FIXTURE.jails, { name: 'Web_Auth', filter: 'nginx-http-auth', logPath: '/var/log/host/nginx/error.log' }];
    expect(problems({ cluster, jails, banSharing: { ...banSharing, jails: ['Web_Auth'] } })).toEqual([expect.stringContaining('jail "Web_Auth" cannot be shared')]);
  });

  test('of a jail that is not enabled', () => {
    expect(problems({ cluster, banSharing: { ...banSharing, jails: ['k3s-apiserver-audit'] } })).toEqual([expect.stringContaining('jail "k3s-apiserver-audit" is not an enabled jail')]);
  });

  test('on Kubernetes 1.31 and newer it is accepted', () => {
    expect(problems({ cluster, banSharing: { ...banSharing, kubernetesVersion: '1.32' } })).toEqual([]);
  });
});
