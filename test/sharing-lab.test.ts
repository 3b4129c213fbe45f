import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithTools } from './fail2ban-tools';
import { banName, RecordedRequest } from './harness/fake-kube-api';
import { waitFor } from './harness/lab';
import { NodeName, SharingLab, SharingNode } from './harness/sharing-lab';

// Three real fail2ban-servers sharing sshd bans through the synthesized sidecar and a stand-in for the Kubernetes
// API (docs/ban-sharing.md). The tests run in order on one lab: each builds on the bans of the ones before.

const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'];
const JAIL = 'sshd';
const MIRROR = 'sshd-cluster';
/** The contract: every node bans within seconds; the lab holds it to this. */
const PROPAGATION_MS = 2000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
const summary = (values: number[]) => `median ${median(values)} ms, max ${Math.max(...values)} ms (n=${values.length})`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
const describeWrite = (w: RecordedRequest) => `${w.method} ${w.name} ${w.identity?.node} ${w.status}`;
const rfc3339 = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

describeWithTools(
  TOOLS,
  'cluster-wide ban sharing: three fail2ban-servers, their sidecars and a stand-in for the Kubernetes API',
  () => {
    let lab: SharingLab;
    /** Record name → the node that published it: every ban the sidecars should have written. */
    const published = new Map<string, NodeName>();
    /** Owner unbans: record names the owners should have deleted. */
    const withdrawn: string[] = [];
    /** Addresses of records no node may apply (never-ban, loopback, future). */
    const refused = new Set<string>();
    const measured = { propagation: [] as number[], unban: [] as number[], adminUnban: [] as number[] };

    beforeAll(async () => {
      const started = Date.now();
      lab = await SharingLab.start();
      console.log(`three nodes and their sidecars started in ${Date.now() - started} ms`);
    }, 30_000);

    afterAll(async () => {
      if (lab) {
        console.log(
          [
            `ban propagation (origin's nftables → other node's mirror set): ${summary(measured.propagation)}`,
            `unban propagation, owner unban (origin's nftables → other node's mirror set): ${summary(measured.unban)}`,
            `unban propagation, admin delete (DELETE answered → node's nftables): ${summary(measured.adminUnban)}`,
          ].join('\n'),
        );
      }
      await lab?.destroy();
    });

    /** `waitFor` that shows the sidecars' logs when it times out. */
    async function within(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
      try {
        await waitFor(what, check, timeoutMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- sidecar logs:\n${lab.logs()}`);
      }
    }

    const others = (origin: SharingNode) => lab.nodes.filter((n) => n !== origin);

    /** When a ban in a jail ends, from `get JAIL banip --with-time` (local time; the lab runs in UTC). */
    function endOf(node: SharingNode, jail: string, ip: string): number {
      const line = node.server.client('get', jail, 'banip', '--with-time').split('\n').find((l) => l.split(/\s/)[0] === ip);
      const end = / = (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(line ?? '')?.[1];
      if (!end) throw new Error(`${node.name}: ${ip} is not banned in ${jail}`);
      return Date.parse(`${end.replace(' ', 'T')}Z`) / 1000;
    }

    /** The addresses a node's mirror should hold: the other nodes' records that have not ended and may be applied. */
    function mirrorShouldHold(node: SharingNode): string[] {
      return [...lab.kube.objects.keys()]
        .filter((name) => lab.kube.objects.get(name).spec.node !== node.name && recordEnd(name) > Date.now() / 1000)
        .map((name) => lab.kube.objects.get(name).spec.ip)
        .filter((ip) => !refused.has(ip));
    }

    function recordEnd(name: string): number {
      const { bannedAt, banTime } = lab.kube.objects.get(name).spec;
      return Date.parse(bannedAt) / 1000 + banTime;
    }

    /**
     * Bans `ip` on `origin` (from its auth.log, or with `set sshd banip`), waits until every other node has it in
     * its mirror set and returns how long after the origin's own nftables each one got it.
     */
    async function banEverywhere(origin: SharingNode, ip: string, how: 'logs' | 'banip'): Promise<number[]> {
      const since = Date.now();
      if (how === 'logs') origin.sshdFailures(ip);
      else origin.server.client('set', JAIL, 'banip', ip);
      published.set(banName(JAIL, ip), origin.name);
      await within(`${origin.name} to ban ${ip}`, () => origin.nftEventAt('add', JAIL, ip, since) !== undefined, 5000);
      const banned = origin.nftEventAt('add', JAIL, ip, since)!;
      for (const node of others(origin)) {
        await within(`${node.name} to ban ${ip} in ${MIRROR}`, () => node.nftEventAt('add', MIRROR, ip, since) !== undefined, banned + PROPAGATION_MS - Date.now());
      }
      const delays = others(origin).map((node) => node.nftEventAt('add', MIRROR, ip, since)! - banned);
      measured.propagation.push(...delays);
      return delays;
    }

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
        const origin = lab.node(name);
        const delays = await banEverywhere(origin, ip, 'logs');
        const record = lab.kube.objects.get(banName(JAIL, ip));
        expect(record?.spec).toEqual({ ip, jail: JAIL, node: name, bannedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), banTime: 86400 });
        const end = endOf(origin, JAIL, ip);
        expect(recordEnd(banName(JAIL, ip))).toBe(end);
        // A mirror's own ticket runs from when it was applied (the mirror's bantime is only a cap); the sidecar
        // ends it at the record's end (see "a record's end unbans …").
        const mirrorEnds = others(origin).map((node) => endOf(node, MIRROR, ip) - end);
        console.log(`${ip} banned on ${name} from its logs: on the other nodes ${delays.join(' ms, ')} ms later; their mirror tickets end ${mirrorEnds.join(' s, ')} s after the origin's`);
        for (const late of mirrorEnds) {
          expect(late).toBeGreaterThanOrEqual(0);
          expect(late).toBeLessThanOrEqual(5);
        }
        for (const node of others(origin)) expect(node.nftSet(JAIL)).not.toContain(ip);
      }
    });

    test('a manual `set sshd banip` is published like any ban', async () => {
      const origin = lab.node('k3s-server');
      const delays = await banEverywhere(origin, '198.51.100.20', 'banip');
      console.log(`198.51.100.20 banned by hand on k3s-server: on the other nodes ${delays.join(' ms, ')} ms later`);
      expect(lab.kube.objects.get('sshd.v4-198-51-100-20')?.spec).toMatchObject({ ip: '198.51.100.20', node: 'k3s-server', banTime: 86400 });
    });

    test('exactly one POST per ban, by its origin; none from a receiving node', () => {
      const writes = lab.kube.writes();
      expect(writes.map(describeWrite).sort()).toEqual([...published].map(([name, node]) => `POST ${name} ${node} 201`).sort());
    });

    test('stopping and restarting fail2ban on a node writes nothing and withdraws nothing', async () => {
      const node = lab.node('k3s-agent-1');
      const own = [...published].filter(([, n]) => n === node.name).map(([name]) => lab.kube.objects.get(name).spec.ip);
      const received = mirrorShouldHold(node);
      const writes = lab.kube.writes().length;
      const records = JSON.stringify([...lab.kube.objects.values()]);

      await node.server.stopServer();
      await sleep(500); // the sidecar polls its outbox every 0.2 s
      const started = Date.now();
      await node.server.startServer();
      await within(
        `${node.name} to restore its own bans and the mirror's`,
        () => sameSet(node.nftSet(JAIL), own) && sameSet(node.nftSet(MIRROR), received),
        5000,
      );
      console.log(`fail2ban on ${node.name} restarted: its ${own.length} own and ${received.length} mirrored bans back in nftables ${Date.now() - started} ms after the start`);
      await sleep(500); // time for anything the restart wrongly put into the outbox to reach the API (polled every 0.2 s)
      expect(fs.readdirSync(path.join(node.server.runDir, 'outbox')).filter((f) => f.endsWith('.event'))).toEqual([]);
      expect(lab.kube.writes().length).toBe(writes);
      expect(JSON.stringify([...lab.kube.objects.values()])).toBe(records);
      for (const other of others(node)) {
        expect(other.nftSet(MIRROR)).toEqual(expect.arrayContaining(own));
      }
    });

    /** Unbans `ip` on its origin; resolves with how long after the origin's nftables every receiver unbanned it. */
    async function ownerUnban(origin: SharingNode, ip: string, receivers = others(origin)): Promise<number[]> {
      const name = banName(JAIL, ip);
      const since = Date.now();
      origin.server.client('set', JAIL, 'unbanip', ip);
      await within(`${origin.name} to unban ${ip}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, 5000);
      const unbanned = origin.nftEventAt('delete', JAIL, ip, since)!;
      await within(`the record ${name} to be deleted`, () => !lab.kube.objects.has(name), unbanned + PROPAGATION_MS - Date.now());
      withdrawn.push(name);
      for (const node of receivers) {
        await within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, unbanned + PROPAGATION_MS - Date.now());
      }
      const delays = receivers.map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - unbanned);
      measured.unban.push(...delays);
      expect(lab.kube.writes().filter((w) => w.at >= since).map(describeWrite)).toEqual([`DELETE ${name} ${origin.name} 200`]);
      for (const node of [origin, ...receivers]) {
        expect(node.nftSet(JAIL)).not.toContain(ip);
        expect(node.nftSet(MIRROR)).not.toContain(ip);
      }
      return delays;
    }

    test('an unban on the owning node deletes its record and every node unbans', async () => {
      const delays = await ownerUnban(lab.node('k3s-server'), '203.0.113.10');
      console.log(`203.0.113.10 unbanned on its origin k3s-server: unbanned on the other nodes ${delays.join(' ms, ')} ms later`);
    });

    // fail2ban 1.0.2 runs a command action's actionunban only if that action banned something of the address family
    // since it started (CommandAction.unban checks its "contains items" flag). So the publish action gets restored
    // bans too (no `norestored`), marked "restored": 1, which the sidecar does not publish again.
    test('after a restart of fail2ban, an owner unban of a restored ban still reaches the other nodes', async () => {
      await ownerUnban(lab.node('k3s-agent-1'), '192.0.2.10');
    });

    test('an administrator’s delete of a record unbans on every node, in the origin’s own jail too', async () => {
      const origin = lab.node('k3s-server');
      const ip = '198.51.100.20';
      const writes = lab.kube.writes().length;
      const since = Date.now();
      expect((await lab.kube.call('DELETE', lab.kube.path(banName(JAIL, ip)), lab.adminToken)).status).toBe(200);
      const deleted = Date.now();
      await within(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, PROPAGATION_MS);
      for (const node of others(origin)) {
        await within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
      }
      const delays = [origin.nftEventAt('delete', JAIL, ip, since)! - deleted, ...others(origin).map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - deleted)];
      measured.adminUnban.push(...delays);
      console.log(`${ip} deleted by an administrator: unbanned on ${lab.nodes.map((n) => n.name).join(', ')} ${delays.join(' ms, ')} ms after the DELETE`);
      expect(origin.server.banned(JAIL)).not.toContain(ip);
      await sleep(500); // the origin's own unban went through its outbox: it must not write again
      expect(lab.kube.writes().length).toBe(writes);
    });

    test('an administrator’s delete while the origin’s sidecar is down is not undone when it starts again', async () => {
      const origin = lab.node('k3s-agent-1');
      const ip = '203.0.113.50';
      const name = banName(JAIL, ip);
      await banEverywhere(origin, ip, 'logs');
      // The sidecar remembers the records it has seen in the ledger; this one must be in its state file before it stops.
      await within(`${origin.name}'s state file to hold ${name}`, () => fs.existsSync(origin.stateFile) && fs.readFileSync(origin.stateFile, 'utf8').includes(name), PROPAGATION_MS);
      await origin.stopSidecar();
      const since = Date.now();
      expect((await lab.kube.call('DELETE', lab.kube.path(name), lab.adminToken)).status).toBe(200);
      for (const node of others(origin)) {
        await within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
      }
      expect(origin.nftSet(JAIL)).toContain(ip); // nobody has told the origin yet

      const started = Date.now();
      await origin.startSidecar();
      await within(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, PROPAGATION_MS);
      const unbanned = origin.nftEventAt('delete', JAIL, ip, since)! - started;
      await sleep(1000); // a republish would follow the sidecar's first LIST at once, a re-application within ms of it
      expect(lab.kube.objects.has(name)).toBe(false);
      expect(lab.kube.writes().filter((w) => w.at >= since).map(describeWrite)).toEqual([]);
      expect(origin.server.banned(JAIL)).not.toContain(ip);
      for (const node of others(origin)) {
        expect(node.nftEventAt('add', MIRROR, ip, since)).toBeUndefined();
        expect(node.server.banned(MIRROR)).not.toContain(ip);
      }
      console.log(`${ip} deleted by an administrator while ${origin.name}'s sidecar was down: unbanned in its ${JAIL} ${unbanned} ms after the sidecar's start, not published again`);
    });

    test('when the API server’s watch history is gone (410), the sidecars relist and miss no deletion', async () => {
      const origin = lab.node('k3s-agent-2');
      const ip = '192.0.2.11';
      const since = Date.now();
      // The watches end with 410, the sidecars relist and watch again; the record is deleted before those new
      // watches are answered, and the history with it: they get 410 too, and only a new list shows the deletion.
      lab.kube.expireWatches();
      await within('every sidecar to relist and watch again', () => lab.kube.waitingWatches === lab.nodes.length, PROPAGATION_MS);
      expect((await lab.kube.call('DELETE', lab.kube.path(banName(JAIL, ip)), lab.adminToken)).status).toBe(200);
      lab.kube.resumeWatches();
      const resumed = Date.now();
      await within(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, PROPAGATION_MS);
      for (const node of others(origin)) {
        await within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
      }
      const expiredWatches = lab.kube.requests.filter((r) => r.watch && r.status === 410 && r.at >= since);
      expect(new Set(expiredWatches.map((r) => r.identity?.node))).toEqual(new Set(lab.nodes.map((n) => n.name)));
      const unbanned = Math.max(...lab.nodes.map((n) => n.nftEventAt('delete', n === origin ? JAIL : MIRROR, ip, since)!));
      console.log(`watch history lost (410): every node unbanned the record deleted meanwhile ${unbanned - resumed} ms after the API answered the new watches`);
    });

    describe('catch-up: a node whose pod was down (fail2ban and sidecar)', () => {
      const missed = '203.0.113.30'; // banned on k3s-server while k3s-agent-2 was down
      const gone = '2001:db8::11'; // k3s-server's, unbanned by its owner while k3s-agent-2 was down
      let started: number;
      let since: number;

      beforeAll(async () => {
        const late = lab.node('k3s-agent-2');
        const origin = lab.node('k3s-server');
        expect(late.nftSet(MIRROR)).toContain(gone);
        await late.stopSidecar();
        await late.server.stopServer();

        since = Date.now();
        origin.sshdFailures(missed);
        published.set(banName(JAIL, missed), origin.name);
        await within(`the record of ${missed}`, () => lab.kube.objects.has(banName(JAIL, missed)), 5000);
        // The node that is down still holds it: in its mirror jail's database.
        await ownerUnban(origin, gone, others(origin).filter((node) => node !== late));

        // As the pod starts again: fail2ban restores its database, the sidecar starts as soon as the socket answers.
        started = Date.now();
        await late.server.startServer();
        await late.startSidecar();
      });

      test('applies the bans it missed within 2 s of the start', async () => {
        const late = lab.node('k3s-agent-2');
        await within(`${late.name} to apply ${missed}`, () => late.nftEventAt('add', MIRROR, missed, since) !== undefined, started + PROPAGATION_MS - Date.now());
        console.log(`catch-up: ${missed} in ${late.name}'s mirror ${late.nftEventAt('add', MIRROR, missed, since)! - started} ms after the pod's start (fail2ban, then the sidecar)`);
      });

      test("holds exactly the ledger's records within 5 s of the start: not the one deleted while it was down", async () => {
        const late = lab.node('k3s-agent-2');
        const expected = mirrorShouldHold(late);
        expect(expected).toContain(missed);
        expect(expected).not.toContain(gone);
        const holdsExactly = () => sameSet(late.nftSet(MIRROR), expected) && sameSet(late.server.banned(MIRROR), expected);
        await within(`${late.name}'s mirror to hold exactly the records (${expected.join(', ')})`, holdsExactly, started + 5000 - Date.now());
        const caughtUp = Date.now() - started;
        await sleep(1500); // fail2ban's restore from its database must not bring a deleted ban back
        await within(`${late.name}'s mirror to still hold exactly the records (${expected.join(', ')})`, holdsExactly, 0);
        console.log(`catch-up: ${late.name}'s mirror exactly the ledger ${caughtUp} ms after the pod's start (polled)`);
      });
    });

    test('forged requests with a node’s token are refused, and change nothing on any node', async () => {
      const token = lab.node('k3s-agent-1').token;
      const records = JSON.stringify([...lab.kube.objects.values()]);
      const mirrors = lab.nodes.map((node) => node.nftSet(MIRROR).sort());
      const spec = (ip: string, node: string) => ({ ip, jail: JAIL, node, bannedAt: rfc3339(Math.floor(Date.now() / 1000)), banTime: 3600 });
      const ban = (ip: string, node: string) => ({ apiVersion: `${lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banName(JAIL, ip) }, spec: spec(ip, node) });
      const own = lab.kube.objects.get(banName(JAIL, '2001:db8::10')); // k3s-agent-1's
      const theirs = lab.kube.objects.get(banName(JAIL, '198.51.100.10')); // k3s-agent-2's
      const call = (method: string, name: string | undefined, body?: unknown, as: string | null = token) => lab.kube.call(method, lab.kube.path(name), as ?? undefined, body);

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
      expect(JSON.stringify([...lab.kube.objects.values()])).toBe(records);
      await sleep(300);
      expect(lab.nodes.map((node) => node.nftSet(MIRROR).sort())).toEqual(mirrors);
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
        refused.add(ip);
        const spec = { ip, jail: JAIL, node: 'k3s-agent-1', bannedAt: rfc3339(bannedAt), banTime: 3600 };
        const response = await lab.kube.call('POST', lab.kube.path(), lab.adminToken, { apiVersion: `${lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banName(JAIL, ip) }, spec });
        expect(response.status).toBe(201);
      }
      for (const node of others(lab.node('k3s-agent-1'))) {
        for (const { ip } of records) {
          const refusal = new RegExp(`refus.*${banName(JAIL, ip).replace(/\./g, '\\.')}`, 'i');
          await within(`${node.name}'s sidecar to log that it refuses ${ip}`, () => refusal.test(node.sidecarLog()), PROPAGATION_MS);
        }
      }
      await sleep(300);
      for (const node of lab.nodes) {
        const banned = [...node.server.banned(JAIL), ...node.server.banned(MIRROR)];
        for (const { ip } of records) {
          expect(banned).not.toContain(ip);
          expect(node.nftEventAt('add', '[a-z-]+', ip, since)).toBeUndefined();
        }
      }
      const lines = lab.logs().split('\n').filter((l) => records.some(({ ip }) => l.includes(banName(JAIL, ip))));
      console.log(`refusals:\n${lines.join('\n')}`);
    });

    test("a record's end unbans the other nodes on time", async () => {
      const ip = '203.0.113.40';
      const bannedAt = Math.floor(Date.now() / 1000);
      const end = (bannedAt + 2) * 1000;
      const spec = { ip, jail: JAIL, node: 'k3s-agent-2', bannedAt: rfc3339(bannedAt), banTime: 2 };
      const since = Date.now();
      const created = await lab.kube.call('POST', lab.kube.path(), lab.adminToken, { apiVersion: `${lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banName(JAIL, ip) }, spec });
      expect(created.status).toBe(201);
      const receivers = others(lab.node('k3s-agent-2'));
      for (const node of receivers) {
        await within(`${node.name} to apply ${ip}`, () => node.nftEventAt('add', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
      }
      for (const node of receivers) {
        await within(`${node.name} to unban ${ip} at its end`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, end + PROPAGATION_MS - Date.now());
      }
      const late = receivers.map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - end);
      console.log(`a record ending at ${rfc3339(end / 1000)}: unbanned on the other nodes ${late.join(' ms, ')} ms after its end`);
      for (const delay of late) {
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(1000);
      }
    });

    test('a burst of 20 bans on one node is 20 POSTs, and every node has all 20', async () => {
      const origin = lab.node('k3s-agent-2');
      const addresses = Array.from({ length: 20 }, (_, i) => `198.51.100.${100 + i}`);
      const since = Date.now();
      for (const ip of addresses) published.set(banName(JAIL, ip), origin.name);
      // Every failure line at once, in one write.
      origin.server.appendLog('/var/log/host/auth.log', addresses.flatMap((ip) => origin.sshdFailureLines(ip)));
      for (const node of others(origin)) {
        await within(`${node.name} to have all 20 in ${MIRROR}`, () => addresses.every((ip) => node.nftEventAt('add', MIRROR, ip, since) !== undefined), 10_000);
      }
      const local = Math.max(...addresses.map((ip) => origin.nftEventAt('add', JAIL, ip, since)!)) - since;
      const everywhere = Math.max(...others(origin).flatMap((node) => addresses.map((ip) => node.nftEventAt('add', MIRROR, ip, since)!))) - since;
      console.log(`burst of 20: all in the origin's nftables ${local} ms after the log write, in every other node's ${everywhere} ms after it`);
      await sleep(300);
      const posts = lab.kube.writes().filter((w) => w.at >= since);
      expect(posts.map(describeWrite).sort()).toEqual(addresses.map((ip) => `POST ${banName(JAIL, ip)} ${origin.name} 201`).sort());
    });

    test('over the whole run, the sidecars wrote one POST per ban and one DELETE per owner unban, nothing else', () => {
      const expected = [...[...published].map(([name, node]) => `POST ${name} ${node} 201`), ...withdrawn.map((name) => `DELETE ${name} ${published.get(name)} 200`)];
      const writes = lab.kube.writes().map(describeWrite);
      console.log(`API writes by the sidecars: ${writes.length}: ${writes.filter((w) => w.startsWith('POST')).length} POST for ${published.size} bans, ${writes.filter((w) => w.startsWith('DELETE')).length} DELETE for ${withdrawn.length} owner unbans`);
      expect(writes.sort()).toEqual(expected.sort());
    });
  },
  { root: true },
);
