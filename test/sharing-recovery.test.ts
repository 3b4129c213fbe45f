import * as fs from 'node:fs';
import * as path from 'node:path';
import { banRecordName } from '../src/features/ban-sharing/record';
import { CatchUp, describeSharingLab, describeWrite, JAIL, MIRROR, sameSet, sleep } from './harness/sharing-session';

// Ban sharing across restarts and outages: of fail2ban, of a agent, of a whole pod, and of the API server's watch
// history. Propagation between running nodes: sharing-propagation.test.ts, on a lab of its own. How fast the nodes
// catch up: `npm run bench:sharing`.

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
    await node.server.startServer();
    await s.until(`${node.name} to restore its own bans and the mirror's`, () => sameSet(node.nftSet(JAIL), own) && sameSet(node.nftSet(MIRROR), received));
    expect(JSON.stringify([...s.lab.kube.objects.values()])).toBe(records);
    // Anything the stop or the restart wrongly put into the outbox is sent before a later ban's event.
    await s.barrier(node);
    expect(fs.readdirSync(path.join(node.server.handoffDir, 'outbox')).filter((f) => f.endsWith('.event'))).toEqual([]);
    expect(s.lab.kube.writes().slice(writes).map(describeWrite)).toEqual([expect.stringMatching(new RegExp(`^POST sshd\\.v4-198-51-100-2\\d\\d\\.${node.name} ${node.name} 201$`))]);
    for (const other of s.others(node)) {
      expect(other.nftSet(MIRROR)).toEqual(expect.arrayContaining(own));
    }
  });

  // fail2ban 1.0.2 runs a command action's actionunban only if that action banned something of the address family
  // since it started (CommandAction.unban checks its "contains items" flag). So the publish action gets restored
  // bans too (no `norestored`), marked "restored": 1, which the agent does not publish again.
  test('after a restart of fail2ban, an owner unban of a restored ban still reaches the other nodes', async () => {
    await s.ownerUnban(s.lab.node('k3s-agent-1'), '192.0.2.10');
  });

  test('an administrator’s delete while the origin’s agent is down is not undone when it starts again', async () => {
    const origin = s.lab.node('k3s-agent-1');
    const ip = '203.0.113.50';
    const name = banRecordName(JAIL, ip, origin.name);
    await s.banEverywhere(origin, ip, 'banip');
    // The agent remembers the records it has seen in the ledger; this one must be in its state file before it stops.
    await s.until(`${origin.name}'s state file to hold ${name}`, () => fs.existsSync(origin.stateFile) && fs.readFileSync(origin.stateFile, 'utf8').includes(name));
    await origin.stopAgent();
    const since = Date.now();
    expect((await s.lab.kube.call('DELETE', s.lab.kube.path(name), s.lab.adminToken)).status).toBe(200);
    for (const node of s.others(origin)) {
      await s.until(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined);
    }
    expect(origin.nftSet(JAIL)).toContain(ip); // nobody has told the origin yet

    await origin.startAgent();
    // The agent unbans a local ban whose record is gone in its republish round, after everything that round
    // would have published: once the unban is in nftables, a wrong republish would have been written already.
    await s.until(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined);
    expect(s.lab.kube.objects.has(name)).toBe(false);
    expect(s.lab.kube.writes().filter((w) => w.at >= since).map(describeWrite)).toEqual([]);
    expect(origin.server.banned(JAIL)).not.toContain(ip);
    for (const node of s.others(origin)) {
      expect(node.nftEventAt('add', MIRROR, ip, since)).toBeUndefined();
      expect(node.server.banned(MIRROR)).not.toContain(ip);
    }
  });

  test('when the API server’s watch history is gone (410), the agents relist and miss no deletion', async () => {
    const origin = s.lab.node('k3s-agent-2');
    const ip = '192.0.2.11';
    const since = Date.now();
    // The watches end with 410, the agents relist and watch again; the record is deleted before those new
    // watches are answered, and the history with it: they get 410 too, and only a new list shows the deletion.
    s.lab.kube.expireWatches();
    // Each agent watches two collections: its ledger and the operator bans.
    await s.until('every agent to relist and watch again', () => s.lab.kube.waitingWatches === s.lab.nodes.length * 2);
    expect((await s.lab.kube.call('DELETE', s.lab.kube.path(banRecordName(JAIL, ip, origin.name)), s.lab.adminToken)).status).toBe(200);
    s.lab.kube.resumeWatches();
    await s.until(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined);
    for (const node of s.others(origin)) {
      await s.until(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined);
    }
    const expiredWatches = s.lab.kube.requests.filter((r) => r.watch && r.status === 410 && r.at >= since);
    expect(new Set(expiredWatches.map((r) => r.identity?.node))).toEqual(new Set(s.lab.nodes.map((n) => n.name)));
  });

  describe('catch-up: a node whose pod was down (fail2ban and agent)', () => {
    const missed = '203.0.113.30'; // banned on k3s-server while k3s-agent-2 was down
    const gone = '2001:db8::11'; // k3s-server's, unbanned by its owner while k3s-agent-2 was down
    let caughtUp: CatchUp;

    beforeAll(async () => {
      caughtUp = await s.catchUp(s.lab.node('k3s-agent-2'), s.lab.node('k3s-server'), missed, gone);
    });

    test('applies the bans it missed', () => {
      expect(caughtUp.expected).toContain(missed);
      expect(s.lab.node('k3s-agent-2').nftEventAt('add', MIRROR, missed, caughtUp.since)).toBeDefined();
    });

    test("holds exactly the ledger's records: not the one deleted while it was down, though its database restored it", async () => {
      const late = s.lab.node('k3s-agent-2');
      expect(caughtUp.expected).not.toContain(gone);
      expect(late.nftSet(MIRROR).sort()).toEqual([...caughtUp.expected].sort());
      // A second look later: nothing the agent or fail2ban still had to do changes it again.
      await sleep(500);
      expect(late.nftSet(MIRROR).sort()).toEqual([...caughtUp.expected].sort());
      expect(late.server.banned(MIRROR).sort()).toEqual([...caughtUp.expected].sort());
    });
  });
});
