import * as fs from 'node:fs';
import * as path from 'node:path';
import { banName } from './harness/fake-kube-api';
import { describeSharingLab, describeWrite, JAIL, MIRROR, PROPAGATION_MS, sameSet, sleep } from './harness/sharing-session';

// Ban sharing across restarts and outages: of fail2ban, of a sidecar, of a whole pod, and of the API server's watch
// history. Propagation between running nodes: sharing-propagation.test.ts, on a lab of its own.

describeSharingLab('restarts and outages', (s) => {
  // One ban of each node, everywhere, for the restarts to keep. Bans here are made by hand (`set sshd banip`), the
  // quickest way: bans from the logs are sharing-propagation.test.ts's.
  beforeAll(async () => {
    await Promise.all([
      s.banEverywhere(s.lab.node('k3s-agent-1'), '192.0.2.10', 'banip'),
      s.banEverywhere(s.lab.node('k3s-agent-2'), '192.0.2.11', 'banip'),
      s.banEverywhere(s.lab.node('k3s-server'), '2001:db8::11', 'banip'),
    ]);
  });

  test('stopping and restarting fail2ban on a node writes nothing and withdraws nothing', async () => {
    const node = s.lab.node('k3s-agent-1');
    const own = [...s.published].filter(([, n]) => n === node.name).map(([name]) => s.lab.kube.objects.get(name).spec.ip);
    const received = s.mirrorShouldHold(node);
    const writes = s.lab.kube.writes().length;
    const records = JSON.stringify([...s.lab.kube.objects.values()]);

    await node.server.stopServer();
    await sleep(500); // the sidecar polls its outbox every 0.2 s
    const started = Date.now();
    await node.server.startServer();
    await s.within(
      `${node.name} to restore its own bans and the mirror's`,
      () => sameSet(node.nftSet(JAIL), own) && sameSet(node.nftSet(MIRROR), received),
      5000,
    );
    console.log(`fail2ban on ${node.name} restarted: its ${own.length} own and ${received.length} mirrored bans back in nftables ${Date.now() - started} ms after the start`);
    await sleep(500); // time for anything the restart wrongly put into the outbox to reach the API (polled every 0.2 s)
    expect(fs.readdirSync(path.join(node.server.runDir, 'outbox')).filter((f) => f.endsWith('.event'))).toEqual([]);
    expect(s.lab.kube.writes().length).toBe(writes);
    expect(JSON.stringify([...s.lab.kube.objects.values()])).toBe(records);
    for (const other of s.others(node)) {
      expect(other.nftSet(MIRROR)).toEqual(expect.arrayContaining(own));
    }
  });

  // fail2ban 1.0.2 runs a command action's actionunban only if that action banned something of the address family
  // since it started (CommandAction.unban checks its "contains items" flag). So the publish action gets restored
  // bans too (no `norestored`), marked "restored": 1, which the sidecar does not publish again.
  test('after a restart of fail2ban, an owner unban of a restored ban still reaches the other nodes', async () => {
    await s.ownerUnban(s.lab.node('k3s-agent-1'), '192.0.2.10');
  });

  test('an administrator’s delete while the origin’s sidecar is down is not undone when it starts again', async () => {
    const origin = s.lab.node('k3s-agent-1');
    const ip = '203.0.113.50';
    const name = banName(JAIL, ip);
    await s.banEverywhere(origin, ip, 'banip');
    // The sidecar remembers the records it has seen in the ledger; this one must be in its state file before it stops.
    await s.within(`${origin.name}'s state file to hold ${name}`, () => fs.existsSync(origin.stateFile) && fs.readFileSync(origin.stateFile, 'utf8').includes(name), PROPAGATION_MS);
    await origin.stopSidecar();
    const since = Date.now();
    expect((await s.lab.kube.call('DELETE', s.lab.kube.path(name), s.lab.adminToken)).status).toBe(200);
    for (const node of s.others(origin)) {
      await s.within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
    }
    expect(origin.nftSet(JAIL)).toContain(ip); // nobody has told the origin yet

    const started = Date.now();
    await origin.startSidecar();
    await s.within(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, PROPAGATION_MS);
    const unbanned = origin.nftEventAt('delete', JAIL, ip, since)! - started;
    await sleep(1000); // a republish would follow the sidecar's first LIST at once, a re-application within ms of it
    expect(s.lab.kube.objects.has(name)).toBe(false);
    expect(s.lab.kube.writes().filter((w) => w.at >= since).map(describeWrite)).toEqual([]);
    expect(origin.server.banned(JAIL)).not.toContain(ip);
    for (const node of s.others(origin)) {
      expect(node.nftEventAt('add', MIRROR, ip, since)).toBeUndefined();
      expect(node.server.banned(MIRROR)).not.toContain(ip);
    }
    console.log(`${ip} deleted by an administrator while ${origin.name}'s sidecar was down: unbanned in its ${JAIL} ${unbanned} ms after the sidecar's start, not published again`);
  });

  test('when the API server’s watch history is gone (410), the sidecars relist and miss no deletion', async () => {
    const origin = s.lab.node('k3s-agent-2');
    const ip = '192.0.2.11';
    const since = Date.now();
    // The watches end with 410, the sidecars relist and watch again; the record is deleted before those new
    // watches are answered, and the history with it: they get 410 too, and only a new list shows the deletion.
    s.lab.kube.expireWatches();
    await s.within('every sidecar to relist and watch again', () => s.lab.kube.waitingWatches === s.lab.nodes.length, PROPAGATION_MS);
    expect((await s.lab.kube.call('DELETE', s.lab.kube.path(banName(JAIL, ip)), s.lab.adminToken)).status).toBe(200);
    s.lab.kube.resumeWatches();
    const resumed = Date.now();
    await s.within(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, PROPAGATION_MS);
    for (const node of s.others(origin)) {
      await s.within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, PROPAGATION_MS);
    }
    const expiredWatches = s.lab.kube.requests.filter((r) => r.watch && r.status === 410 && r.at >= since);
    expect(new Set(expiredWatches.map((r) => r.identity?.node))).toEqual(new Set(s.lab.nodes.map((n) => n.name)));
    const unbanned = Math.max(...s.lab.nodes.map((n) => n.nftEventAt('delete', n === origin ? JAIL : MIRROR, ip, since)!));
    console.log(`watch history lost (410): every node unbanned the record deleted meanwhile ${unbanned - resumed} ms after the API answered the new watches`);
  });

  describe('catch-up: a node whose pod was down (fail2ban and sidecar)', () => {
    const missed = '203.0.113.30'; // banned on k3s-server while k3s-agent-2 was down
    const gone = '2001:db8::11'; // k3s-server's, unbanned by its owner while k3s-agent-2 was down
    let started: number;
    let since: number;
    /** How often k3s-agent-2's fail2ban had logged restoring `gone` into the mirror before it started again. */
    let restoredBefore: number;

    beforeAll(async () => {
      const late = s.lab.node('k3s-agent-2');
      const origin = s.lab.node('k3s-server');
      expect(late.nftSet(MIRROR)).toContain(gone);
      await late.stopSidecar();
      await late.server.stopServer();

      since = Date.now();
      origin.server.client('set', JAIL, 'banip', missed);
      s.published.set(banName(JAIL, missed), origin.name);
      await s.within(`the record of ${missed}`, () => s.lab.kube.objects.has(banName(JAIL, missed)), 5000);
      // The node that is down still holds it: in its mirror jail's database.
      await s.ownerUnban(origin, gone, s.others(origin).filter((node) => node !== late));

      // As the pod starts again: fail2ban restores its database, the sidecar starts as soon as the socket answers.
      restoredBefore = late.server.logged(MIRROR, 'Restore Ban', gone);
      started = Date.now();
      await late.server.startServer();
      await late.startSidecar();
    });

    test('applies the bans it missed within 2 s of the start', async () => {
      const late = s.lab.node('k3s-agent-2');
      await s.within(`${late.name} to apply ${missed}`, () => late.nftEventAt('add', MIRROR, missed, since) !== undefined, started + PROPAGATION_MS - Date.now());
      console.log(`catch-up: ${missed} in ${late.name}'s mirror ${late.nftEventAt('add', MIRROR, missed, since)! - started} ms after the pod's start (fail2ban, then the sidecar)`);
    });

    test("holds exactly the ledger's records within 5 s of the start: not the one deleted while it was down", async () => {
      const late = s.lab.node('k3s-agent-2');
      const expected = s.mirrorShouldHold(late);
      expect(expected).toContain(missed);
      expect(expected).not.toContain(gone);
      let held = '';
      const holdsExactly = () => {
        const [inNftables, inFail2ban] = [late.nftSet(MIRROR), late.server.banned(MIRROR)];
        held = `nftables: ${inNftables.join(', ') || 'none'}; fail2ban: ${inFail2ban.join(', ') || 'none'}`;
        return sameSet(inNftables, expected) && sameSet(inFail2ban, expected);
      };
      const holds = async (what: string, timeoutMs: number) => {
        try {
          await s.within(`${late.name}'s mirror to ${what} the records (${expected.join(', ')})`, holdsExactly, timeoutMs);
        } catch (error) {
          throw new Error(`${(error as Error).message.split('\n')[0]}; it held ${held}\n${(error as Error).message}`);
        }
      };
      // fail2ban restores the mirror's bans from its database a moment after its jails start, the deleted one too;
      // the sidecar unbans it once a later listing still shows it (SETTLE_SECONDS).
      await s.within(`${late.name}'s fail2ban to restore ${gone} from its database`, () => late.server.logged(MIRROR, 'Restore Ban', gone) > restoredBefore, started + 5000 - Date.now());
      await holds('hold exactly', started + 5000 - Date.now());
      const caughtUp = Date.now() - started;
      await sleep(500);
      await holds('still hold exactly', 0);
      console.log(`catch-up: ${late.name}'s mirror exactly the ledger ${caughtUp} ms after the pod's start (polled)`);
    });
  });
});
