import { BAN_POLICY_VALIDATIONS, BAN_RECORD_RULES } from '../src/features/ban-sharing/ledger';
import { NODE_POLICY_VARIABLE, nodeAgentMatchCondition } from '../src/k8s/node-identity';
import { CelEvaluator } from './harness/cel-evaluator';

const cel = new CelEvaluator();
beforeAll(() => cel.start());
afterAll(() => cel.stop());
const evaluate = (cases: Parameters<CelEvaluator['evaluate']>[0]) => cel.evaluate(cases);

function record(name: string, spec: Record<string, unknown>) {
  return { metadata: { name }, spec: { jail: 'sshd', node: 'k3s-agent-1', bannedAt: '2026-11-26T10:00:00Z', banTime: 3600, ...spec } };
}

describe('the Ban CRD rules', () => {
  const valid = async (self: ReturnType<typeof record>) => {
    const [ip, name] = await evaluate([
      { expression: BAN_RECORD_RULES.ip, context: { self: self.spec } },
      { expression: BAN_RECORD_RULES.name, context: { self } },
    ]);
    return ip.value === true && name.value === true;
  };

  test.each([
    ['sshd.v4-192-0-2-10.k3s-agent-1', '192.0.2.10'],
    ['sshd.v6-2001-db8--10.k3s-agent-1', '2001:db8::10'],
    ['sshd.v6-2001-db8--0.k3s-agent-1', '2001:db8::'],
  ])('accept %s for %s', async (name, ip) => {
    expect(await valid(record(name, { ip }))).toBe(true);
  });

  test.each([
    ['a name for another address', 'sshd.v4-192-0-2-11.k3s-agent-1', '192.0.2.10'],
    ['a name for another jail', 'nginx.v4-192-0-2-10.k3s-agent-1', '192.0.2.10'],
    ['a name for another node', 'sshd.v4-192-0-2-10.k3s-agent-2', '192.0.2.10'],
    ['a name without its node', 'sshd.v4-192-0-2-10', '192.0.2.10'],
    ['an address not in canonical form', 'sshd.v6-2001-DB8--10.k3s-agent-1', '2001:DB8::10'],
    ['a long IPv6 form', 'sshd.v6-2001-db8-0-0-0-0-0-10.k3s-agent-1', '2001:db8:0:0:0:0:0:10'],
    ['a range', 'sshd.v4-192-0-2-0/24.k3s-agent-1', '192.0.2.0/24'],
    ['a host name', 'sshd.v4-example-com.k3s-agent-1', 'example.com'],
    ['an address ending in a separator, without the closing 0', 'sshd.v6-2001-db8--.k3s-agent-1', '2001:db8::'],
  ])('refuse %s', async (_, name, ip) => {
    expect(await valid(record(name, { ip }))).toBe(false);
  });
});

describe("the Ban CRD's never-ban rule (agent/never_ban.json)", () => {
  const holdable = async (ip: string) => {
    const [result] = await evaluate([{ expression: BAN_RECORD_RULES.neverBan, context: { self: { ip } } }]);
    expect(result.error).toBeUndefined();
    return result.value;
  };

  test.each(['0.0.0.0', '127.0.0.1', '169.254.1.1', '224.0.0.1', '255.255.255.255', '::', '::1', 'fe80::1', 'ff02::1', '::ffff:c000:201', '::1:0:0:0'])('refuses %s', async (ip) => {
    expect(await holdable(ip)).toBe(false);
  });

  test.each(['192.0.2.10', '198.51.100.7', '2001:db8::10'])('accepts %s', async (ip) => {
    expect(await holdable(ip)).toBe(true);
  });
});

describe('the admission policy', () => {
  const NODE_EXTRA = 'authentication.kubernetes.io/node-name';
  const own = record('sshd.v4-192-0-2-10.k3s-agent-1', { ip: '192.0.2.10' });

  /** Messages of the validations a request fails; empty when admitted. */
  async function denied(operation: string, node: string | undefined, object: unknown, oldObject: unknown = null): Promise<string[]> {
    const variables = { node: node ?? '' };
    const request = { operation, userInfo: { username: 'system:serviceaccount:fail2ban:fail2ban', extra: node ? { [NODE_EXTRA]: [node] } : {} } };
    const results = await evaluate(BAN_POLICY_VALIDATIONS.map((v) => ({ expression: v.expression, context: { request, object, oldObject, variables } })));
    return BAN_POLICY_VALIDATIONS.filter((_, i) => results[i].value !== true).map((v) => v.message);
  }

  test('a node creates, extends and deletes its own record', async () => {
    expect(await denied('CREATE', 'k3s-agent-1', own)).toEqual([]);
    expect(await denied('UPDATE', 'k3s-agent-1', { ...own, spec: { ...own.spec, banTime: 7200 } }, own)).toEqual([]);
    expect(await denied('UPDATE', 'k3s-agent-1', { ...own, spec: { ...own.spec, banTime: -1 } }, own)).toEqual([]);
    expect(await denied('DELETE', 'k3s-agent-1', null, own)).toEqual([]);
  });

  test('a node cannot write or delete a record for another node', async () => {
    expect(await denied('CREATE', 'k3s-agent-2', own)).toEqual(['a node may only write its own records (spec.node)']);
    expect(await denied('DELETE', 'k3s-agent-2', null, own)).toEqual(['a node may only delete its own records']);
  });

  test("a node cannot add finalizers to its record: an administrator's delete would hang", async () => {
    const held = { ...own, metadata: { ...own.metadata, finalizers: ['example.org/hold'] } };
    expect(await denied('CREATE', 'k3s-agent-1', held)).toEqual(["a node may not add finalizers: an administrator's delete must take effect at once"]);
    expect(await denied('UPDATE', 'k3s-agent-1', held, own)).toEqual(["a node may not add finalizers: an administrator's delete must take effect at once"]);
    expect(await denied('CREATE', 'k3s-agent-1', { ...own, metadata: { ...own.metadata, finalizers: [] } })).toEqual([]);
  });

  test('a token without a node name may do nothing', async () => {
    expect(await denied('CREATE', undefined, own)).toContain('the token carries no node name: only pod-bound tokens of fail2ban pods may write bans');
  });

  test('an update may not shorten a ban, end a permanent one, or change ip, jail or node', async () => {
    expect(await denied('UPDATE', 'k3s-agent-1', { ...own, spec: { ...own.spec, banTime: 60 } }, own)).toEqual(['an update may only extend a ban']);
    const permanent = { ...own, spec: { ...own.spec, banTime: -1 } };
    expect(await denied('UPDATE', 'k3s-agent-1', own, permanent)).toEqual(['an update may only extend a ban']);
    expect(await denied('UPDATE', 'k3s-agent-1', { ...own, spec: { ...own.spec, ip: '192.0.2.11' } }, own)).toEqual(['ip, jail and node of a record never change']);
  });

  test('the node variable reads the node name from the token, and is empty without one', async () => {
    const user = (extra: Record<string, string[]>) => ({ request: { userInfo: { extra } } });
    expect(
      (await evaluate([
        { expression: NODE_POLICY_VARIABLE, context: user({ [NODE_EXTRA]: ['k3s-agent-1'] }) },
        { expression: NODE_POLICY_VARIABLE, context: user({}) },
        { expression: NODE_POLICY_VARIABLE, context: user({ [NODE_EXTRA]: [] }) },
      ])).map((r) => r.value),
    ).toEqual(['k3s-agent-1', '', '']);
  });

  test('only the fail2ban ServiceAccount is matched: an administrator can delete any record', async () => {
    const condition = nodeAgentMatchCondition('fail2ban', 'fail2ban');
    const as = (username: string) => ({ expression: condition, context: { request: { userInfo: { username } } } });
    const results = await evaluate([as('system:serviceaccount:fail2ban:fail2ban'), as('system:admin'), as('system:serviceaccount:default:fail2ban')]);
    expect(results.map((r) => r.value)).toEqual([true, false, false]);
  });
});
