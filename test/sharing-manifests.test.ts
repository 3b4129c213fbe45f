import * as fs from 'node:fs';
import { FIXTURE } from './fixture';
import { modelOf, objectOf, parseDocs, parseIni, problems, synth } from './helpers';

const cluster = { nodeAddresses: ['192.0.2.240/28'] };
const banSharing = { kubernetesVersion: 'v1.31.4+k3s1', jails: ['sshd'] };
const files = synth({ cluster, banSharing });
const all = Object.values(files).flatMap(parseDocs);
const byKind = (kind: string) => all.filter((o) => o.kind === kind);
const named = (kind: string, name: string) => byKind(kind).find((o) => o.metadata.name === name);
const daemonSet = objectOf(files, 'DaemonSet');
const spec = daemonSet.spec.template.spec;
const agent = spec.containers.find((c: any) => c.name === 'node-agent');
const fail2ban = spec.containers.find((c: any) => c.name === 'fail2ban');
const configMap = objectOf(files, 'ConfigMap');
const ini = parseIni(configMap.data['jail.local']);


test.each(all.filter((o) => o.metadata).map((o) => [`${o.kind} ${o.metadata.name}`, o]))('%s validates against the upstream OpenAPI schema', (_, object) => {
  const Model = modelOf(object);
  expect(() => new Model(object).validate()).not.toThrow();
});

test('sharing is off unless turned on', () => {
  expect(FIXTURE.banSharing).toBeUndefined();
  const crds = Object.values(synth()).flatMap(parseDocs).filter((o) => o.kind === 'CustomResourceDefinition');
  expect(crds.map((crd) => crd.metadata.name)).not.toContain('bans.fail2ban.homelab.internal');
});

describe('the ledger objects', () => {
  test('a namespaced Ban CRD in the configured group', () => {
    const crd = named('CustomResourceDefinition', 'bans.fail2ban.homelab.internal');
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
    const policy = named('ValidatingAdmissionPolicy', 'fail2ban-bans.fail2ban.homelab.internal');
    const binding = named('ValidatingAdmissionPolicyBinding', 'fail2ban-bans.fail2ban.homelab.internal');
    expect(policy.spec.matchConditions[0].expression).toBe("request.userInfo.username == 'system:serviceaccount:fail2ban:fail2ban'");
    expect(policy.spec.matchConstraints.resourceRules[0].operations).toEqual(['CREATE', 'UPDATE', 'DELETE']);
    expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
  });
});

test('the ban manager has no access to ledger records: an operator unban reaches them through the agents', () => {
  const role = named('Role', 'fail2ban-ban-manager');
  expect(role.rules.flatMap((rule: any) => rule.resources)).not.toContain('bans');
});

describe('the pod', () => {
  test('the publish action writes into an outbox that fail2ban and the agent alone share, in memory', () => {
    expect(agent.env).toContainEqual({ name: 'OUTBOX', value: '/var/run/node-agent/outbox' });
    expect(parseIni(configMap.data['cluster-publish.conf']).Init.outbox).toBe('/var/run/node-agent/outbox');
    expect(spec.volumes.find((v: any) => v.name === 'outbox').emptyDir).toEqual({ medium: 'Memory' });
    const sharing = spec.containers.filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === 'outbox'));
    expect(sharing.map((c: any) => c.name).sort()).toEqual(['fail2ban', 'node-agent']);
    for (const container of sharing) expect(container.volumeMounts).toContainEqual({ name: 'outbox', mountPath: '/var/run/node-agent/outbox' });
  });

  test('the agent alone keeps its state in a host directory, so that pod restarts keep it', () => {
    const state = spec.volumes.find((v: any) => v.name === 'ban-sharing-state');
    expect(state.hostPath).toEqual({ path: '/var/lib/fail2ban/ban-sharing', type: 'DirectoryOrCreate' });
    expect(agent.volumeMounts).toContainEqual(expect.objectContaining({ name: 'ban-sharing-state', mountPath: '/var/lib/ban-sharing' }));
    expect(agent.env).toContainEqual({ name: 'STATE_FILE', value: '/var/lib/ban-sharing/state.json' });
    expect(fail2ban.volumeMounts.map((m: any) => m.name)).not.toContain('ban-sharing-state');
  });

  test('an init container whose only capability is CHOWN hands the state directory to the agent', () => {
    const own = spec.initContainers.find((c: any) => c.name === 'own-ban-sharing-state');
    expect(own.command).toEqual(['chown', `${agent.securityContext.runAsUser}:${agent.securityContext.runAsGroup}`, '/var/lib/ban-sharing']);
    expect(own.securityContext.capabilities).toEqual({ add: ['CHOWN'], drop: ['ALL'] });
    expect(own.volumeMounts).toEqual([{ name: 'ban-sharing-state', mountPath: '/var/lib/ban-sharing' }]);
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

  test("a shared jail's own ignoreip is never banned from a record either", () => {
    const jails = FIXTURE.jails.map((jail) => (jail.name === 'sshd' ? { ...jail, ignoreIp: ['203.0.113.128/25'] } : jail));
    const agent = objectOf(synth({ cluster, banSharing, jails }), 'DaemonSet').spec.template.spec.containers.find((c: any) => c.name === 'node-agent');
    expect(agent.env.find((e: any) => e.name === 'NEVER_BAN').value.split(' ')).toContain('203.0.113.128/25');
  });

  test('the namespace holds at most maxRecords Ban objects, and each node applies at most maxRecordsPerNode of one origin', () => {
    expect(named('ResourceQuota', 'fail2ban-bans')).toMatchObject({ metadata: { namespace: 'fail2ban' }, spec: { hard: { 'count/bans.fail2ban.homelab.internal': 20000 } } });
    expect(agent.env).toContainEqual({ name: 'MAX_RECORDS_PER_NODE', value: '5000' });
    const tighter = Object.values(synth({ cluster, banSharing: { ...banSharing, maxRecords: 900, maxRecordsPerNode: 300 } }))
      .flatMap(parseDocs)
      .find((o) => o.kind === 'ResourceQuota' && o.metadata.name === 'fail2ban-bans');
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

  test('of a jail that is not enabled', () => {
    expect(problems({ cluster, banSharing: { ...banSharing, jails: ['k3s-apiserver-audit'] } })).toEqual([expect.stringContaining('jail "k3s-apiserver-audit" is not an enabled jail')]);
  });

  test('on Kubernetes 1.31 and newer it is accepted', () => {
    expect(problems({ cluster, banSharing: { ...banSharing, kubernetesVersion: '1.32' } })).toEqual([]);
  });
});
