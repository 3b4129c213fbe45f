import { banName } from './harness/fake-kube-api';
import { NodeName } from './harness/sharing-lab';
import { describeSharingLab, describeWrite, JAIL, MIRROR, PROPAGATION_MS, rfc3339, sleep } from './harness/sharing-session';

// How bans and unbans travel between three nodes that run without interruption: from the logs, by hand, by an
// administrator, at a record's end, in a burst; and what the ledger refuses. Restarts and outages:
// sharing-recovery.test.ts, on a lab of its own.

describeSharingLab('propagation', (s) => {
  test('a ban from one node’s logs is in every other node’s nftables within 2 s, until the same end', async () => {
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
      const delays = await s.banEverywhere(origin, ip, 'logs');
      const record = s.lab.kube.objects.get(banName(JAIL, ip));
      expect(record?.spec).toEqual({ ip, jail: JAIL, node: name, bannedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), banTime: 86400 });
      const end = s.endOf(origin, JAIL, ip);
      expect(s.recordEnd(banName(JAIL, ip))).toBe(end);
      // A mirror's own ticket runs from when it was applied (the mirror's bantime is only a cap); the sidecar
      // ends it at the record's end (see "a record's end unbans …").
      const mirrorEnds = s.others(origin).map((node) => s.endOf(node, MIRROR, ip) - end);
      console.log(`${ip} banned on ${name} from its logs: on the other nodes ${delays.join(' ms, ')} ms later; their mirror tickets end ${mirrorEnds.join(' s, ')} s after the origin's`);
      for (const late of mirrorEnds) {
        expect(late).toBeGreaterThanOrEqual(0);
        expect(late).toBeLessThanOrEqual(5);
      }
      for (const node of s.others(origin)) expect(node.nftSet(JAIL)).not.toContain(ip);
    }
  });

  test('a manual `set sshd banip` is published like any ban', async () => {
    const origin = s.lab.node('k3s-server');
    const delays = await s.banEverywhere(origin, '198.51.100.20', 'banip');
    console.log(`198.51.100.20 banned by hand on k3s-server: on the other nodes ${delays.join(' ms, ')} ms later`);
    expect(s.lab.kube.objects.get('sshd.v4-198-51-100-20')?.spec).toMatchObject({ ip: '198.51.100.20', node: 'k3s-server', banTime: 86400 });
  });

  test('exactly one POST per ban, by its origin; none from a receiving node', () => {
    const writes = s.lab.kube.writes();
    expect(writes.map(describeWrite).sort()).toEqual([...s.published].map(([name, node]) => `POST ${name} ${node} 201`).sort());
  });

  test('an unban on the owning node deletes its record and every node unbans', async () => {
    const delays = await s.ownerUnban(s.lab.node('k3s-server'), '203.0.113.10');
    console.log(`203.0.113.10 unbanned on its origin k3s-server: unbanned on the other nodes ${delays.join(' ms, ')} ms later`);
  });

  test('an administrator’s delete of a record unbans on every node, in the origin’s own jail too', async () => {
    const origin = s.lab.node('k3s-server');
    const ip = '198.51.100.20';
    const writes = s.lab.kube.writes().length;
    const since = Date.now();
    expect((await s.lab.kube.call('DELETE', s.lab.kube.path(banName(JAIL, ip)), s.lab.adminToken)).status).toBe(200);
    const deleted = Date.now();
    await s.within(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, PROPAGATION_MS);
    for (const node of s.others(origin)) {
      await s.within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
    }
    const delays = [origin.nftEventAt('delete', JAIL, ip, since)! - deleted, ...s.others(origin).map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - deleted)];
    s.measured.adminUnban.push(...delays);
    console.log(`${ip} deleted by an administrator: unbanned on ${s.lab.nodes.map((n) => n.name).join(', ')} ${delays.join(' ms, ')} ms after the DELETE`);
    expect(origin.server.banned(JAIL)).not.toContain(ip);
    await sleep(500); // the origin's own unban went through its outbox: it must not write again
    expect(s.lab.kube.writes().length).toBe(writes);
  });

  test('forged requests with a node’s token are refused, and change nothing on any node', async () => {
    const token = s.lab.node('k3s-agent-1').token;
    const records = JSON.stringify([...s.lab.kube.objects.values()]);
    const mirrors = s.lab.nodes.map((node) => node.nftSet(MIRROR).sort());
    const spec = (ip: string, node: string) => ({ ip, jail: JAIL, node, bannedAt: rfc3339(Math.floor(Date.now() / 1000)), banTime: 3600 });
    const ban = (ip: string, node: string) => ({ apiVersion: `${s.lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banName(JAIL, ip) }, spec: spec(ip, node) });
    const own = s.lab.kube.objects.get(banName(JAIL, '2001:db8::10')); // k3s-agent-1's
    const theirs = s.lab.kube.objects.get(banName(JAIL, '198.51.100.10')); // k3s-agent-2's
    const call = (method: string, name: string | undefined, body?: unknown, as: string | null = token) => s.lab.kube.call(method, s.lab.kube.path(name), as ?? undefined, body);

    const attempts: Array<[string, () => Promise<{ status: number }>, number]> = [
      ['a record for another node', () => call('POST', undefined, ban('203.0.113.66', 'k3s-agent-2')), 403],
      ["delete another node's record", () => call('DELETE', theirs.metadata.name), 403],
      ["take over another node's record", () => call('PUT', theirs.metadata.name, { ...theirs, spec: { ...theirs.spec, node: 'k3s-agent-1' } }), 403],
      ["extend another node's record", () => call('PUT', theirs.metadata.name, { ...theirs, spec: { ...theirs.spec, banTime: 2 * 86400 } }), 403],
      ['shorten its own record', () => call('PUT', own.metadata.name, { ...own, spec: { ...own.spec, banTime: 60 } }), 403],
      ['make its own record start earlier', () => call('PUT', own.metadata.name, { ...own, spec: { ...own.spec, bannedAt: rfc3339(Date.parse(own.spec.bannedAt) / 1000 - 60) } }), 403],
      ['move its own record to another address', () => call('PUT', own.metadata.name, { ...own, spec: { ...own.spec, ip: '2001:db8::66' } }), 422],
      ['a name that is not the address', () => call('POST', undefined, { ...ban('203.0.113.67', 'k3s-agent-1'), metadata: { name: 'sshd.v4-203-0-113-68' } }), 422],
      ['an address not in canonical form', () => call('POST', undefined, { ...ban('2001:db8::67', 'k3s-agent-1'), spec: spec('2001:DB8::67', 'k3s-agent-1') }), 422],
      ['a range', () => call('POST', undefined, { ...ban('203.0.113.0', 'k3s-agent-1'), spec: spec('203.0.113.0/24', 'k3s-agent-1') }), 422],
      ['no token', () => call('POST', undefined, ban('203.0.113.69', 'k3s-agent-1'), null), 401],
      ['an unknown token', () => call('DELETE', own.metadata.name, undefined, 'not-a-token'), 401],
    ];
    const answers: string[] = [];
    for (const [what, attempt] of attempts) answers.push(`${what}: ${(await attempt()).status}`);
    expect(answers).toEqual(attempts.map(([what, , status]) => `${what}: ${status}`));
    expect(JSON.stringify([...s.lab.kube.objects.values()])).toBe(records);
    await sleep(300);
    expect(s.lab.nodes.map((node) => node.nftSet(MIRROR).sort())).toEqual(mirrors);
  });

  test('a record for a never-ban address, loopback or a future time, even from an administrator, is applied nowhere', async () => {
    const since = Date.now();
    const now = Math.floor(since / 1000);
    const records = [
      { ip: '192.0.2.241', bannedAt: now }, // inside cluster.nodeAddresses
      { ip: '127.0.0.1', bannedAt: now },
      { ip: '203.0.113.70', bannedAt: now + 3600 },
    ];
    for (const { ip, bannedAt } of records) {
      s.refused.add(ip);
      const spec = { ip, jail: JAIL, node: 'k3s-agent-1', bannedAt: rfc3339(bannedAt), banTime: 3600 };
      const response = await s.lab.kube.call('POST', s.lab.kube.path(), s.lab.adminToken, { apiVersion: `${s.lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banName(JAIL, ip) }, spec });
      expect(response.status).toBe(201);
    }
    for (const node of s.others(s.lab.node('k3s-agent-1'))) {
      for (const { ip } of records) {
        const refusal = new RegExp(`refus.*${banName(JAIL, ip).replace(/\./g, '\\.')}`, 'i');
        await s.within(`${node.name}'s sidecar to log that it refuses ${ip}`, () => refusal.test(node.sidecarLog()), PROPAGATION_MS);
      }
    }
    await sleep(300);
    for (const node of s.lab.nodes) {
      const banned = [...node.server.banned(JAIL), ...node.server.banned(MIRROR)];
      for (const { ip } of records) {
        expect(banned).not.toContain(ip);
        expect(node.nftEventAt('add', '[a-z-]+', ip, since)).toBeUndefined();
      }
    }
    const lines = s.lab.logs().split('\n').filter((l) => records.some(({ ip }) => l.includes(banName(JAIL, ip))));
    console.log(`refusals:\n${lines.join('\n')}`);
  });

  test("a record's end unbans the other nodes on time", async () => {
    const ip = '203.0.113.40';
    const bannedAt = Math.floor(Date.now() / 1000);
    const end = (bannedAt + 2) * 1000;
    const spec = { ip, jail: JAIL, node: 'k3s-agent-2', bannedAt: rfc3339(bannedAt), banTime: 2 };
    const since = Date.now();
    const created = await s.lab.kube.call('POST', s.lab.kube.path(), s.lab.adminToken, { apiVersion: `${s.lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banName(JAIL, ip) }, spec });
    expect(created.status).toBe(201);
    const receivers = s.others(s.lab.node('k3s-agent-2'));
    for (const node of receivers) {
      await s.within(`${node.name} to apply ${ip}`, () => node.nftEventAt('add', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
    }
    for (const node of receivers) {
      await s.within(`${node.name} to unban ${ip} at its end`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, end + PROPAGATION_MS - Date.now());
    }
    const late = receivers.map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - end);
    console.log(`a record ending at ${rfc3339(end / 1000)}: unbanned on the other nodes ${late.join(' ms, ')} ms after its end`);
    for (const delay of late) {
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(1000);
    }
  });

  test('a burst of 20 bans on one node is 20 POSTs, and every node has all 20', async () => {
    const origin = s.lab.node('k3s-agent-2');
    const addresses = Array.from({ length: 20 }, (_, i) => `198.51.100.${100 + i}`);
    const since = Date.now();
    for (const ip of addresses) s.published.set(banName(JAIL, ip), origin.name);
    // Every failure line at once, in one write.
    origin.server.appendLog('/var/log/host/auth.log', addresses.flatMap((ip) => origin.sshdFailureLines(ip)));
    for (const node of s.others(origin)) {
      await s.within(`${node.name} to have all 20 in ${MIRROR}`, () => addresses.every((ip) => node.nftEventAt('add', MIRROR, ip, since) !== undefined), 10_000);
    }
    const local = Math.max(...addresses.map((ip) => origin.nftEventAt('add', JAIL, ip, since)!)) - since;
    const everywhere = Math.max(...s.others(origin).flatMap((node) => addresses.map((ip) => node.nftEventAt('add', MIRROR, ip, since)!))) - since;
    console.log(`burst of 20: all in the origin's nftables ${local} ms after the log write, in every other node's ${everywhere} ms after it`);
    await sleep(300);
    const posts = s.lab.kube.writes().filter((w) => w.at >= since);
    expect(posts.map(describeWrite).sort()).toEqual(addresses.map((ip) => `POST ${banName(JAIL, ip)} ${origin.name} 201`).sort());
  });
});
