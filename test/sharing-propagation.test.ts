import { banRecordName } from '../src/features/ban-sharing/record';
import { NodeName } from './harness/sharing-lab';
import { describeSharingLab, describeWrite, JAIL, MIRROR, rfc3339 } from './harness/sharing-session';

// How bans and unbans travel between three nodes that run without interruption: from the logs, by hand, by an
// administrator, at a record's end, in a burst; and what the ledger refuses. Restarts and outages:
// sharing-recovery.test.ts, on a lab of its own. How fast: `npm run bench:sharing`.

describeSharingLab('propagation', (s) => {
  test('a ban from one node’s logs reaches every other node’s nftables, until the same end', async () => {
    const cases: Array<[NodeName, string]> = [
      ['k3s-agent-1', '192.0.2.10'],
      ['k3s-agent-2', '198.51.100.10'],
      ['k3s-server', '203.0.113.10'],
      ['k3s-agent-1', '2001:db8::10'],
      ['k3s-agent-2', '192.0.2.11'],
      ['k3s-server', '2001:db8::11'],
    ];
    for (const [name, ip] of cases) {
      const origin = s.lab.node(name);
      const since = Date.now();
      await s.banEverywhere(origin, ip, 'logs');
      const record = s.lab.kube.objects.get(banRecordName(JAIL, ip, name));
      expect(record?.spec).toEqual({ ip, jail: JAIL, node: name, bannedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), banTime: 86400 });
      const end = s.endOf(origin, JAIL, ip);
      expect(s.recordEnd(banRecordName(JAIL, ip, name))).toBe(end);
      // A mirror's own ticket runs for the mirror's ban time (only a cap) from when it was applied, so it never ends
      // before the record; the agent ends it at the record's end (see "a record's end unbans …").
      for (const node of s.others(origin)) {
        const start = s.endOf(node, MIRROR, ip) - Number(node.server.client('get', MIRROR, 'bantime'));
        expect(start).toBeGreaterThanOrEqual(Math.floor(since / 1000));
        expect(start).toBeLessThanOrEqual(Math.ceil(node.nftEventAt('add', MIRROR, ip, since)! / 1000));
        expect(s.endOf(node, MIRROR, ip)).toBeGreaterThanOrEqual(end);
      }
      for (const node of s.others(origin)) expect(node.nftSet(JAIL)).not.toContain(ip);
    }
  });

  test('a manual `set sshd banip` is published like any ban', async () => {
    const origin = s.lab.node('k3s-server');
    await s.banEverywhere(origin, '198.51.100.20', 'banip');
    expect(s.lab.kube.objects.get('sshd.v4-198-51-100-20.k3s-server')?.spec).toMatchObject({ ip: '198.51.100.20', node: 'k3s-server', banTime: 86400 });
  });

  test('exactly one POST per ban, by its origin; none from a receiving node', () => {
    const writes = s.lab.kube.writes();
    expect(writes.map(describeWrite).sort()).toEqual([...s.published].map(([name, node]) => `POST ${name} ${node} 201`).sort());
  });

  test('an unban on the owning node deletes its record and every node unbans', async () => {
    await s.ownerUnban(s.lab.node('k3s-server'), '203.0.113.10');
  });

  test('an administrator’s delete of a record unbans on every node, in the origin’s own jail too', async () => {
    const origin = s.lab.node('k3s-server');
    const ip = '198.51.100.20';
    const writes = s.lab.kube.writes().length;
    await s.adminDelete(origin, ip);
    expect(origin.server.banned(JAIL)).not.toContain(ip);
    // The origin's own unban went through its outbox: once a later event of that node is sent, it must not have
    // written for this one.
    await s.barrier(origin);
    expect(s.lab.kube.writes().slice(writes).map(describeWrite)).toEqual([expect.stringMatching(/^POST sshd\.v4-198-51-100-2\d\d\.k3s-server k3s-server 201$/)]);
  });

  test('forged requests with a node’s token are refused, and change no record', async () => {
    const token = s.lab.node('k3s-agent-1').token;
    const records = JSON.stringify([...s.lab.kube.objects.values()]);
    const spec = (ip: string, node: string) => ({ ip, jail: JAIL, node, bannedAt: rfc3339(Math.floor(Date.now() / 1000)), banTime: 3600 });
    const ban = (ip: string, node: string) => ({ apiVersion: `${s.lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banRecordName(JAIL, ip, node) }, spec: spec(ip, node) });
    const own = s.lab.kube.objects.get(banRecordName(JAIL, '2001:db8::10', 'k3s-agent-1'));
    const theirs = s.lab.kube.objects.get(banRecordName(JAIL, '198.51.100.10', 'k3s-agent-2'));
    const call = (method: string, name: string | undefined, body?: unknown, as: string | null = token) => s.lab.kube.call(method, s.lab.kube.path(name), as ?? undefined, body);

    const attempts: Array<[string, () => Promise<{ status: number }>, number]> = [
      ['a record for another node', () => call('POST', undefined, ban('203.0.113.66', 'k3s-agent-2')), 403],
      ["delete another node's record", () => call('DELETE', theirs.metadata.name), 403],
      // The record's name carries its node: taking it over no longer matches the name (the CRD's rule).
      ["take over another node's record", () => call('PUT', theirs.metadata.name, { ...theirs, spec: { ...theirs.spec, node: 'k3s-agent-1' } }), 422],
      ["extend another node's record", () => call('PUT', theirs.metadata.name, { ...theirs, spec: { ...theirs.spec, banTime: 2 * 86400 } }), 403],
      ['shorten its own record', () => call('PUT', own.metadata.name, { ...own, spec: { ...own.spec, banTime: 60 } }), 403],
      ['hold its own record with a finalizer', () => call('PUT', own.metadata.name, { ...own, metadata: { ...own.metadata, finalizers: ['example.org/hold'] } }), 403],
      ['make its own record start earlier', () => call('PUT', own.metadata.name, { ...own, spec: { ...own.spec, bannedAt: rfc3339(Date.parse(own.spec.bannedAt) / 1000 - 60) } }), 403],
      ['move its own record to another address', () => call('PUT', own.metadata.name, { ...own, spec: { ...own.spec, ip: '2001:db8::66' } }), 422],
      ['a name that is not the address', () => call('POST', undefined, { ...ban('203.0.113.67', 'k3s-agent-1'), metadata: { name: 'sshd.v4-203-0-113-68.k3s-agent-1' } }), 422],
      ['an address not in canonical form', () => call('POST', undefined, { ...ban('2001:db8::67', 'k3s-agent-1'), spec: spec('2001:DB8::67', 'k3s-agent-1') }), 422],
      ['a range', () => call('POST', undefined, { ...ban('203.0.113.0', 'k3s-agent-1'), spec: spec('203.0.113.0/24', 'k3s-agent-1') }), 422],
      ['no token', () => call('POST', undefined, ban('203.0.113.69', 'k3s-agent-1'), null), 401],
      ['an unknown token', () => call('DELETE', own.metadata.name, undefined, 'not-a-token'), 401],
    ];
    const answers: string[] = [];
    for (const [what, attempt] of attempts) answers.push(`${what}: ${(await attempt()).status}`);
    expect(answers).toEqual(attempts.map(([what, , status]) => `${what}: ${status}`));
    expect(JSON.stringify([...s.lab.kube.objects.values()])).toBe(records);
  });

  test("a compromised node's record can neither block, shorten nor withdraw another node's ban", async () => {
    const attacker = s.lab.node('k3s-agent-1');
    const honest = s.lab.node('k3s-server');
    const ip = '203.0.113.80';
    // A record dated two days back that lasts ten years: its capped end has passed, so no node applies it.
    const forged = { ip, jail: JAIL, node: attacker.name, bannedAt: rfc3339(Math.floor(Date.now() / 1000) - 2 * 86400), banTime: 10 * 365 * 86400 };
    const name = banRecordName(JAIL, ip, attacker.name);
    const created = await s.lab.kube.call('POST', s.lab.kube.path(), attacker.token, { apiVersion: `${s.lab.kube.group}/v1`, kind: 'Ban', metadata: { name }, spec: forged });
    expect(created.status).toBe(201);
    // The honest node bans the address from its logs: it publishes a record of its own, which every node applies.
    await s.banEverywhere(honest, ip, 'logs');
    expect(s.lab.kube.objects.get(banRecordName(JAIL, ip, honest.name))?.spec).toMatchObject({ node: honest.name, banTime: 86400 });
    // The attacker withdraws its record: nobody's own ban goes, the honest node's record still holds the others.
    const since = Date.now();
    expect((await s.lab.kube.call('DELETE', s.lab.kube.path(name), attacker.token)).status).toBe(200);
    // Every agent handles the ledger's events in order: once two later bans have reached every node, so has the DELETE.
    await s.banEverywhere(honest, '203.0.113.81', 'banip');
    await s.banEverywhere(s.lab.node('k3s-agent-2'), '203.0.113.82', 'banip');
    for (const node of s.lab.nodes) {
      expect(node.nftEventAt('delete', JAIL, ip, since)).toBeUndefined();
      expect(node.nftEventAt('delete', MIRROR, ip, since)).toBeUndefined();
    }
    expect(honest.nftSet(JAIL)).toContain(ip);
    for (const node of s.others(honest)) expect(node.nftSet(MIRROR)).toContain(ip);
  });

  test('a record for a never-ban address, loopback or a future time, even from an administrator, is applied nowhere', async () => {
    const since = Date.now();
    const now = Math.floor(since / 1000);
    const records = [
      { ip: '192.0.2.241', bannedAt: now, stored: 'created' }, // inside cluster.nodeAddresses
      { ip: '127.0.0.1', bannedAt: now, stored: 'injected' }, // the API refuses it (422); stored past it, as a bug could
      { ip: '203.0.113.70', bannedAt: now + 3600, stored: 'created' },
    ];
    for (const { ip, bannedAt, stored } of records) {
      s.refused.add(ip);
      const spec = { ip, jail: JAIL, node: 'k3s-agent-1', bannedAt: rfc3339(bannedAt), banTime: 3600 };
      const ban = { apiVersion: `${s.lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banRecordName(JAIL, ip, 'k3s-agent-1') }, spec };
      const response = await s.lab.kube.call('POST', s.lab.kube.path(), s.lab.adminToken, ban);
      expect(response.status).toBe(stored === 'created' ? 201 : 422);
      if (stored === 'injected') s.lab.kube.inject(ban);
    }
    for (const node of s.others(s.lab.node('k3s-agent-1'))) {
      for (const { ip } of records) {
        const refusal = new RegExp(`refus.*${banRecordName(JAIL, ip, 'k3s-agent-1').replace(/\./g, '\\.')}`, 'i');
        await s.until(`${node.name}'s agent to log that it refuses ${ip}`, () => refusal.test(node.agentLog()));
      }
    }
    for (const node of s.lab.nodes) {
      const banned = [...node.server.banned(JAIL), ...node.server.banned(MIRROR)];
      for (const { ip } of records) {
        expect(banned).not.toContain(ip);
        expect(node.nftEventAt('add', '[a-z-]+', ip, since)).toBeUndefined();
      }
    }
    const lines = s.lab.logs().split('\n').filter((l) => records.some(({ ip }) => l.includes(banRecordName(JAIL, ip, 'k3s-agent-1'))));
    console.log(`refusals:\n${lines.join('\n')}`);
  });

  test("a record's end unbans the other nodes at that end, not before", async () => {
    const late = await s.recordThatEnds(s.lab.node('k3s-agent-2'), '203.0.113.40', 2);
    for (const delay of late) expect(delay).toBeGreaterThanOrEqual(0);
  });

  test('a burst of 20 bans on one node is 20 POSTs, and every node has all 20', async () => {
    const origin = s.lab.node('k3s-agent-2');
    const addresses = Array.from({ length: 20 }, (_, i) => `198.51.100.${100 + i}`);
    const since = Date.now();
    for (const ip of addresses) s.published.set(banRecordName(JAIL, ip, origin.name), origin.name);
    // Every failure line at once, in one write.
    origin.server.appendLog('/var/log/host/auth.log', addresses.flatMap((ip) => origin.sshdFailureLines(ip)));
    for (const node of s.others(origin)) {
      await s.until(`${node.name} to have all 20 in ${MIRROR}`, () => addresses.every((ip) => node.nftEventAt('add', MIRROR, ip, since) !== undefined));
    }
    const posts = s.lab.kube.writes().filter((w) => w.at >= since);
    expect(posts.map(describeWrite).sort()).toEqual(addresses.map((ip) => `POST ${banRecordName(JAIL, ip, origin.name)} ${origin.name} 201`).sort());
  });
});
