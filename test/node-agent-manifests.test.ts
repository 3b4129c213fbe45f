import * as fs from 'node:fs';
import { AGENT_DIR } from '../src/k8s/node-agent';
import { OPERATOR_BAN_NAME_RULE, operatorBanRules } from '../src/features/operator-bans/orders';
import { NODE_REPORT_POLICY_VALIDATIONS } from '../src/features/operator-bans/node-reports';
import { FIXTURE } from './fixture';
import { CelEvaluator } from './harness/cel-evaluator';
import { objectOf, parseDocs, parseIni, synth } from './helpers';

// GIVEN the fixture's deployment, without ban sharing: the agent, its broker and operator bans are always there
const files = synth();
const all = Object.values(files).flatMap(parseDocs);
const named = (kind: string, name: string) => all.find((o) => o.kind === kind && o.metadata.name === name);
const spec = objectOf(files, 'DaemonSet').spec.template.spec;
const container = (name: string) => spec.containers.find((c: any) => c.name === name);
const [fail2ban, broker, agent] = ['fail2ban', 'ban-broker', 'node-agent'].map(container);
const configMap = objectOf(files, 'ConfigMap');
const ini = parseIni(configMap.data['jail.local']);
const envOf = (c: any): Record<string, any> => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const mountsOf = (c: any): string[] => (c.volumeMounts ?? []).map((m: any) => m.mountPath);

describe('who can reach what in the pod', () => {
  test('the API token is projected into the agent alone; no container mounts the ServiceAccount token automatically', () => {
    expect(spec.serviceAccountName).toBe('fail2ban');
    expect(spec.automountServiceAccountToken).toBe(false);
    const token = spec.volumes.find((v: any) => v.projected);
    expect(token.projected.sources[0]).toEqual({ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } });
    for (const c of [...spec.containers, ...spec.initContainers]) {
      expect((c.volumeMounts ?? []).some((m: any) => m.name === token.name)).toBe(c === agent);
    }
  });

  test("fail2ban's socket directory is mounted in fail2ban and the broker only, never in the agent", () => {
    expect(mountsOf(fail2ban)).toContain('/var/run/fail2ban');
    expect(mountsOf(broker)).toContain('/var/run/fail2ban');
    expect(mountsOf(agent)).not.toContain('/var/run/fail2ban');
    expect(envOf(broker).F2B_SOCKET).toBe('/var/run/fail2ban/fail2ban.sock');
    expect(envOf(agent).F2B_SOCKET).toBeUndefined();
    expect(envOf(agent).BROKER_SOCKET).toBe(envOf(broker).BROKER_SOCKET);
    expect(envOf(agent).BROKER_SOCKET.startsWith('/var/run/node-agent/')).toBe(true);
  });

  test("the broker's socket is in a directory the broker and the agent alone share: fail2ban cannot replace it", () => {
    const handoff = spec.volumes.find((v: any) => v.name === 'handoff');
    expect(handoff.emptyDir).toEqual({ medium: 'Memory' });
    const sharing = spec.containers.filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === 'handoff'));
    expect(sharing.map((c: any) => c.name).sort()).toEqual(['ban-broker', 'node-agent']);
  });

  test('the agent runs as a user of its own, with no capability and a read-only root filesystem', () => {
    expect(agent.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
  });

  test("the broker is root only to reach fail2ban's socket: no capability, and its socket's group is the agent's", () => {
    expect(broker.securityContext).toMatchObject({ runAsUser: 0, runAsGroup: agent.securityContext.runAsGroup, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(broker.command).toEqual(['/usr/bin/python3', '-m', 'agent.broker']);
  });

  test('the broker lets the agent list and unban in the configured jails, and ban only in the operator jails', () => {
    expect(JSON.parse(envOf(broker).BROKER_JAILS)).toEqual({
      sshd: ['get', 'unban'],
      'k3s-apiserver': ['get', 'unban'],
      'sshd-operator': ['get', 'ban', 'unban'],
      'k3s-apiserver-operator': ['get', 'ban', 'unban'],
    });
  });

  test('agent and broker refuse the same never-ban list: ignoreip of [DEFAULT] and of every jail', () => {
    const jails = FIXTURE.jails.map((jail) => (jail.name === 'sshd' ? { ...jail, ignoreIp: ['203.0.113.128/25'] } : jail));
    const pod = objectOf(synth({ jails }), 'DaemonSet').spec.template.spec;
    const [brokerEnv, agentEnv] = ['ban-broker', 'node-agent'].map((name) => envOf(pod.containers.find((c: any) => c.name === name)));
    expect(brokerEnv.NEVER_BAN).toBe(agentEnv.NEVER_BAN);
    expect(agentEnv.NEVER_BAN.split(' ')).toEqual(expect.arrayContaining([...ini.DEFAULT.ignoreip.split(' '), '203.0.113.128/25']));
  });

  test('the agent knows its node, and every jail with its operator jail', () => {
    const env = envOf(agent);
    expect(env.NODE_NAME).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(JSON.parse(env.OPERATOR_JAILS)).toEqual({ sshd: 'sshd-operator', 'k3s-apiserver': 'k3s-apiserver-operator' });
    expect(env.TZ).toBe(envOf(fail2ban).TZ);
  });

  test('agent and broker run from the ConfigMap, every module byte for byte, mounted in one volume by items', () => {
    const modules = fs.readdirSync(AGENT_DIR).filter((file) => file.endsWith('.py') || file.endsWith('.json'));
    expect(modules).toEqual(expect.arrayContaining(['__main__.py', 'agent.py', 'broker.py', 'records.py', 'ban_record.json']));
    for (const file of modules) expect(configMap.data[`agent.${file}`]).toBe(fs.readFileSync(`agent/${file}`, 'utf8'));
    expect(Object.keys(configMap.data).filter((key) => key.startsWith('agent.tests'))).toEqual([]);
    const code = spec.volumes.find((v: any) => v.name === 'node-agent');
    expect(code.configMap.items).toEqual(modules.sort().map((file) => ({ key: `agent.${file}`, path: `agent/${file}` })));
    for (const c of [agent, broker]) expect(c.volumeMounts).toContainEqual({ name: 'node-agent', mountPath: '/opt/node-agent', readOnly: true });
    expect(mountsOf(fail2ban)).not.toContain('/opt/node-agent');
  });
});

describe('RBAC', () => {
  const roles = all.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');

  test('no role grants pods, pods/exec, secrets or nodes; there is no ClusterRole', () => {
    expect(all.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const resources = roles.flatMap((role) => role.rules.flatMap((rule: any) => rule.resources));
    for (const forbidden of ['pods', 'pods/exec', 'pods/attach', 'secrets', 'nodes', '*']) expect(resources).not.toContain(forbidden);
  });

  test("the ban manager may manage operator bans and read the nodes' reports, nothing else", () => {
    expect(named('Role', 'fail2ban-ban-manager').rules).toEqual([
      { apiGroups: ['fail2ban.homelab.internal'], resources: ['operatorbans'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] },
      { apiGroups: ['fail2ban.homelab.internal'], resources: ['fail2bannodes'], verbs: ['get', 'list'] },
    ]);
  });

  test('the agent may read operator bans and write reports (its own, by the admission policy)', () => {
    expect(named('Role', 'fail2ban-operator-bans').rules).toEqual([
      { apiGroups: ['fail2ban.homelab.internal'], resources: ['operatorbans'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['fail2ban.homelab.internal'], resources: ['fail2bannodes'], verbs: ['get', 'create', 'update'] },
    ]);
    expect(named('RoleBinding', 'fail2ban-operator-bans').subjects).toEqual([{ kind: 'ServiceAccount', name: 'fail2ban', namespace: 'fail2ban' }]);
  });

  test("the reports' admission policy matches the agents' ServiceAccount and denies", () => {
    const policy = named('ValidatingAdmissionPolicy', 'fail2ban-fail2bannodes.fail2ban.homelab.internal');
    expect(policy.spec.matchConditions[0].expression).toBe("request.userInfo.username == 'system:serviceaccount:fail2ban:fail2ban'");
    expect(policy.spec.matchConstraints.resourceRules[0]).toMatchObject({ resources: ['fail2bannodes'], operations: ['CREATE', 'UPDATE'] });
    expect(named('ValidatingAdmissionPolicyBinding', policy.metadata.name).spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
  });
});

describe('operator bans', () => {
  const crd = named('CustomResourceDefinition', 'operatorbans.fail2ban.homelab.internal');
  const schema = crd.spec.versions[0].schema.openAPIV3Schema;

  test('a namespaced OperatorBan whose jail is one of the enabled jails', () => {
    expect(crd.spec).toMatchObject({ group: 'fail2ban.homelab.internal', scope: 'Namespaced', names: { kind: 'OperatorBan', plural: 'operatorbans' } });
    expect(schema.properties.spec.required).toEqual(['jail', 'ip', 'action', 'orderedAt']);
    expect(schema.properties.spec.properties.jail.enum).toEqual(['sshd', 'k3s-apiserver']);
    expect(schema.properties.spec.properties.action.enum).toEqual(['ban', 'unban']);
  });

  test('orderedAt and expires take only the times every agent reads (agent/operator_ban.json)', () => {
    const { time } = JSON.parse(fs.readFileSync('agent/operator_ban.json', 'utf8'));
    for (const field of ['orderedAt', 'expires']) expect(schema.properties.spec.properties[field]).toEqual(time);
    const pattern = new RegExp(time.pattern);
    for (const ok of ['2026-12-06T10:00:00Z', '2026-12-06T10:00:00.5+01:00']) expect(pattern.test(ok)).toBe(true);
    for (const bad of ['2026-12-06T10:00:00', '2026-12-06t10:00:00z', '2026-12-06 10:00:00Z']) expect(pattern.test(bad)).toBe(false);
  });

  test('a Fail2banNode report per node, and a quota on operator bans', () => {
    expect(named('CustomResourceDefinition', 'fail2bannodes.fail2ban.homelab.internal').spec.names).toMatchObject({ kind: 'Fail2banNode', plural: 'fail2bannodes' });
    expect(named('ResourceQuota', 'fail2ban-operator-bans').spec.hard).toEqual({ 'count/operatorbans.fail2ban.homelab.internal': 2000 });
  });

  test('every enabled jail has an operator jail: no filter, no log, blocked like its jail, held until the agent ends it', () => {
    expect(ini['sshd-operator']).toEqual({ enabled: 'true', filter: '', port: '%(sshd/port)s', protocol: '%(sshd/protocol)s', bantime: '-1' });
    expect(ini['k3s-apiserver-audit-operator']).toBeUndefined();
  });
});

describe('the OperatorBan rules (CEL)', () => {
  const cel = new CelEvaluator();
  beforeAll(() => cel.start());
  afterAll(() => cel.stop());
  const rules = operatorBanRules({ neverBan: ['100.64.0.0/10', '198.51.100.7'], jailNeverBan: { sshd: ['203.0.113.128/25'], 'k3s-apiserver': [] } });
  const order = (name: string, spec: Record<string, unknown>) => ({
    metadata: { name },
    spec: { jail: 'sshd', action: 'ban', orderedAt: '2026-12-06T10:00:00Z', ...spec },
  });
  async function failures(self: ReturnType<typeof order>): Promise<string[]> {
    const results = await cel.evaluate([
      { expression: OPERATOR_BAN_NAME_RULE, context: { self } },
      ...rules.map((rule) => ({ expression: rule.rule, context: { self: self.spec } })),
    ]);
    results.forEach((result) => expect(result.error).toBeUndefined());
    return results.flatMap((result, i) => (result.value === true ? [] : [i === 0 ? 'name' : rules[i - 1].message]));
  }

  test.each([
    ['sshd.v4-203-0-113-5', { ip: '203.0.113.5' }],
    ['sshd.v6-2001-db8--5', { ip: '2001:db8::5', expires: '2026-12-07T10:00:00Z' }],
    ['sshd.v6-2001-db8--0', { ip: '2001:db8::' }],
    ['sshd.v4-127-0-0-1', { ip: '127.0.0.1', action: 'unban' }],
    ['k3s-apiserver.v4-203-0-113-200', { ip: '203.0.113.200', jail: 'k3s-apiserver' }],
  ])('accept %s', async (name, spec) => {
    expect(await failures(order(name, spec))).toEqual([]);
  });

  test.each([
    ['a name for another address', 'sshd.v4-203-0-113-6', { ip: '203.0.113.5' }, 'name'],
    ['a name with a node', 'sshd.v4-203-0-113-5.k3s-server', { ip: '203.0.113.5' }, 'name'],
    ['a long IPv6 form', 'sshd.v6-2001-db8-0-0-0-0-0-5', { ip: '2001:db8:0:0:0:0:0:5' }, 'canonical'],
    ['an IPv4-mapped address', 'sshd.v6--ffff-cb00-7105', { ip: '::ffff:cb00:7105' }, 'never-ban'],
    ['loopback', 'sshd.v4-127-0-0-1', { ip: '127.0.0.1' }, 'never-ban'],
    ['the unspecified address', 'sshd.v4-0-0-0-0', { ip: '0.0.0.0' }, 'never-ban'],
    ['broadcast', 'sshd.v4-255-255-255-255', { ip: '255.255.255.255' }, 'never-ban'],
    ['multicast', 'sshd.v4-224-0-0-1', { ip: '224.0.0.1' }, 'never-ban'],
    ['link-local', 'sshd.v4-169-254-1-1', { ip: '169.254.1.1' }, 'never-ban'],
    ['the tailnet (ignoreip)', 'sshd.v4-100-64-1-1', { ip: '100.64.1.1' }, 'never-ban'],
    ['a single ignored address', 'sshd.v4-198-51-100-7', { ip: '198.51.100.7' }, 'never-ban'],
    ["the jail's own ignoreip", 'sshd.v4-203-0-113-200', { ip: '203.0.113.200' }, 'never-ban'],
    ['expires on an unban', 'sshd.v4-203-0-113-5', { ip: '203.0.113.5', action: 'unban', expires: '2026-12-07T10:00:00Z' }, 'expires is for bans only'],
    ['expires before the order', 'sshd.v4-203-0-113-5', { ip: '203.0.113.5', expires: '2026-12-05T10:00:00Z' }, 'after orderedAt'],
  ])('refuse %s', async (_, name, spec, because) => {
    const failed = await failures(order(name, spec));
    expect(failed.some((message) => message.includes(because))).toBe(true);
  });
});

describe("the reports' admission policy (CEL)", () => {
  const cel = new CelEvaluator();
  beforeAll(() => cel.start());
  afterAll(() => cel.stop());
  const report = (name: string, node: string, extra: Record<string, unknown> = {}) => ({ metadata: { name, ...extra }, status: { node, reportedAt: '2026-12-06T10:00:00Z' } });
  async function allowed(object: unknown, tokenNode: string): Promise<boolean> {
    const results = await cel.evaluate(NODE_REPORT_POLICY_VALIDATIONS.map((v) => ({ expression: v.expression, context: { object, variables: { node: tokenNode } } })));
    return results.every((result) => result.value === true);
  }

  test('a node writes its own report', async () => {
    expect(await allowed(report('k3s-agent-1', 'k3s-agent-1'), 'k3s-agent-1')).toBe(true);
  });

  test.each([
    ["another node's report", report('k3s-server', 'k3s-server'), 'k3s-agent-1'],
    ['its own object claiming another node', report('k3s-agent-1', 'k3s-server'), 'k3s-agent-1'],
    ['a token without a node', report('k3s-agent-1', 'k3s-agent-1'), ''],
    ['a finalizer', report('k3s-agent-1', 'k3s-agent-1', { finalizers: ['example.com/hold'] }), 'k3s-agent-1'],
  ])('refuse %s', async (_, object, node) => {
    expect(await allowed(object, node)).toBe(false);
  });
});
