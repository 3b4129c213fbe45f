import * as assert from 'node:assert/strict';
import { describeWithTools } from '../fail2ban-tools';
import { banRecordName } from '../../src/features/ban-sharing/record';
import { RecordedRequest } from './fake-kube-api';
import { waitFor } from './wait';
import { NodeName, SharingLab, SharingNode } from './sharing-lab';

// What the ban-sharing lab suites and `npm run bench:sharing` share: one lab per suite file (so that the suites run
// side by side on jest's workers), the bookkeeping of what the agents should have written, and the steps. A step
// checks what happened (with node:assert, so that the benchmark can run it too) and returns how long it took: the
// tests assert no duration, the benchmark prints them.

const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare', 'openssl'];
export const JAIL = 'sshd';
export const MIRROR = 'sshd-cluster';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
export const describeWrite = (w: RecordedRequest) => `${w.method} ${w.name} ${w.identity?.node} ${w.status}`;
export const rfc3339 = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

/** What {@link SharingSession.catchUp} saw. */
export interface CatchUp {
  /** When the missed ban was made (for `nftEventAt`). */
  readonly since: number;
  /** The addresses the late node's mirror holds at the end: the ledger's, of the other nodes. */
  readonly expected: string[];
  /** How long after the pod's start (fail2ban, then the agent) the missed ban was in nftables. */
  readonly appliedMs: number;
  /** How long after the pod's start its mirror held exactly the ledger's records. */
  readonly exactMs: number;
}

/** One lab and what its tests expect of it; the tests of a suite run in order and build on each other's bans. */
export class SharingSession {
  private started?: SharingLab;
  /** Record name → the node that published it: every ban the agents should have written. */
  readonly published = new Map<string, NodeName>();
  /** Owner unbans: record names the owners should have deleted. */
  readonly withdrawn: string[] = [];
  /** Addresses of records no node may apply (never-ban, loopback, future). */
  readonly refused = new Set<string>();
  /** Addresses for {@link barrier}: each is banned once. */
  private markers = 0;

  get lab(): SharingLab {
    if (!this.started) throw new Error('the lab did not start');
    return this.started;
  }

  async start(): Promise<void> {
    this.started = await SharingLab.start();
  }

  async destroy(): Promise<void> {
    await this.started?.destroy();
  }

  /** `waitFor` (a hang detector) that shows the agents' logs when it gives up. */
  async until(what: string, check: () => boolean): Promise<void> {
    try {
      await waitFor(what, check);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- agent logs:\n${this.lab.logs()}`);
    }
  }

  others(origin: SharingNode): SharingNode[] {
    return this.lab.nodes.filter((n) => n !== origin);
  }

  /** When a ban in a jail ends, from `get JAIL banip --with-time` (local time; the lab runs in UTC). */
  endOf(node: SharingNode, jail: string, ip: string): number {
    const line = node.server.client('get', jail, 'banip', '--with-time').split('\n').find((l) => l.split(/\s/)[0] === ip);
    const end = / = (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/.exec(line ?? '')?.[1];
    if (!end) throw new Error(`${node.name}: ${ip} is not banned in ${jail}`);
    return Date.parse(`${end.replace(' ', 'T')}Z`) / 1000;
  }

  /** The addresses a node's mirror should hold: the other nodes' records that have not ended and may be applied. */
  mirrorShouldHold(node: SharingNode): string[] {
    const objects = this.lab.kube.objects;
    return [...objects.keys()]
      .filter((name) => objects.get(name).spec.node !== node.name && this.recordEnd(name) > Date.now() / 1000)
      .map((name) => objects.get(name).spec.ip)
      .filter((ip, i, ips) => !this.refused.has(ip) && ips.indexOf(ip) === i);
  }

  recordEnd(name: string): number {
    const { bannedAt, banTime } = this.lab.kube.objects.get(name).spec;
    return Date.parse(bannedAt) / 1000 + banTime;
  }

  /**
   * Bans `ip` on `origin` (from its auth.log, or with `set sshd banip`), waits until every other node has it in
   * its mirror set and returns how long after the origin's own nftables each one got it.
   */
  async banEverywhere(origin: SharingNode, ip: string, how: 'logs' | 'banip'): Promise<number[]> {
    const since = Date.now();
    if (how === 'logs') origin.sshdFailures(ip);
    else origin.server.client('set', JAIL, 'banip', ip);
    this.published.set(banRecordName(JAIL, ip, origin.name), origin.name);
    await this.until(`${origin.name} to ban ${ip}`, () => origin.nftEventAt('add', JAIL, ip, since) !== undefined);
    const banned = origin.nftEventAt('add', JAIL, ip, since)!;
    for (const node of this.others(origin)) {
      await this.until(`${node.name} to ban ${ip} in ${MIRROR}`, () => node.nftEventAt('add', MIRROR, ip, since) !== undefined);
    }
    return this.others(origin).map((node) => node.nftEventAt('add', MIRROR, ip, since)! - banned);
  }

  /**
   * Unbans `ip` on its origin, checks that the origin deleted its record (one write) and every receiver unbanned it;
   * resolves with how long after the origin's nftables each receiver did.
   */
  async ownerUnban(origin: SharingNode, ip: string, receivers = this.others(origin)): Promise<number[]> {
    const lab = this.lab;
    const name = banRecordName(JAIL, ip, origin.name);
    const since = Date.now();
    origin.server.client('set', JAIL, 'unbanip', ip);
    await this.until(`${origin.name} to unban ${ip}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined);
    const unbanned = origin.nftEventAt('delete', JAIL, ip, since)!;
    await this.until(`the record ${name} to be deleted`, () => !lab.kube.objects.has(name));
    this.withdrawn.push(name);
    for (const node of receivers) {
      await this.until(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined);
    }
    assert.deepEqual(lab.kube.writes().filter((w) => w.at >= since).map(describeWrite), [`DELETE ${name} ${origin.name} 200`]);
    for (const node of [origin, ...receivers]) {
      assert.ok(!node.nftSet(JAIL).includes(ip), `${node.name} still has ${ip} in ${JAIL}`);
      assert.ok(!node.nftSet(MIRROR).includes(ip), `${node.name} still has ${ip} in ${MIRROR}`);
    }
    return receivers.map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - unbanned);
  }

  /**
   * An administrator deletes the record of `ip` (banned on `origin`); waits until the origin has unbanned it in its
   * own jail and every other node in its mirror, and resolves with how long after the DELETE each node did
   * (the origin first).
   */
  async adminDelete(origin: SharingNode, ip: string): Promise<number[]> {
    const since = Date.now();
    const deleted = await this.lab.kube.call('DELETE', this.lab.kube.path(banRecordName(JAIL, ip, origin.name)), this.lab.adminToken);
    assert.equal(deleted.status, 200);
    const answered = Date.now();
    await this.until(`${origin.name} to unban ${ip} in its own ${JAIL}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined);
    for (const node of this.others(origin)) {
      await this.until(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined);
    }
    return [origin.nftEventAt('delete', JAIL, ip, since)! - answered, ...this.others(origin).map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - answered)];
  }

  /**
   * A record of `ip` from `node` (written by an administrator) that ends `banTime` seconds after it starts: waits
   * until the other nodes applied it and unbanned it again, and resolves with how long after the record's end each
   * of them unbanned (negative: before it).
   */
  async recordThatEnds(node: SharingNode, ip: string, banTime: number): Promise<number[]> {
    const bannedAt = Math.floor(Date.now() / 1000);
    const end = (bannedAt + banTime) * 1000;
    const since = Date.now();
    const spec = { ip, jail: JAIL, node: node.name, bannedAt: rfc3339(bannedAt), banTime };
    const created = await this.lab.kube.call('POST', this.lab.kube.path(), this.lab.adminToken, { apiVersion: `${this.lab.kube.group}/v1`, kind: 'Ban', metadata: { name: banRecordName(JAIL, ip, node.name) }, spec });
    assert.equal(created.status, 201);
    const receivers = this.others(node);
    for (const other of receivers) {
      await this.until(`${other.name} to apply ${ip}`, () => other.nftEventAt('add', MIRROR, ip, since) !== undefined);
    }
    for (const other of receivers) {
      await this.until(`${other.name} to unban ${ip} at its end`, () => other.nftEventAt('delete', MIRROR, ip, since) !== undefined);
    }
    return receivers.map((other) => other.nftEventAt('delete', MIRROR, ip, since)! - end);
  }

  /**
   * A node's pod is down (its fail2ban and its agent) while `origin` bans `missed` and withdraws `gone`, which the
   * late node holds in its mirror; then the pod starts again. Waits until the late node has applied `missed` and its
   * mirror holds exactly the ledger's records (after fail2ban restored `gone` from its database).
   */
  async catchUp(late: SharingNode, origin: SharingNode, missed: string, gone: string): Promise<CatchUp> {
    assert.ok(late.nftSet(MIRROR).includes(gone), `${late.name} must hold ${gone} in ${MIRROR} before it goes down`);
    await late.stopAgent();
    await late.server.stopServer();

    const since = Date.now();
    origin.server.client('set', JAIL, 'banip', missed);
    this.published.set(banRecordName(JAIL, missed, origin.name), origin.name);
    await this.until(`the record of ${missed}`, () => this.lab.kube.objects.has(banRecordName(JAIL, missed, origin.name)));
    // The node that is down still holds it: in its mirror jail's database.
    await this.ownerUnban(origin, gone, this.others(origin).filter((node) => node !== late));

    // As the pod starts again: fail2ban restores its database, the agent starts as soon as the socket answers.
    const restoredBefore = late.server.logged(MIRROR, 'Restore Ban', gone);
    const started = Date.now();
    await late.server.startServer();
    await late.startAgent();
    await this.until(`${late.name} to apply ${missed}`, () => late.nftEventAt('add', MIRROR, missed, since) !== undefined);
    const appliedMs = late.nftEventAt('add', MIRROR, missed, since)! - started;
    // fail2ban restores the mirror's bans from its database a moment after its jails start, the withdrawn one too;
    // the agent unbans it once a later listing still shows it (SETTLE_SECONDS).
    await this.until(`${late.name}'s fail2ban to restore ${gone} from its database`, () => late.server.logged(MIRROR, 'Restore Ban', gone) > restoredBefore);
    const expected = this.mirrorShouldHold(late);
    await this.until(`${late.name}'s mirror to hold exactly the records (${expected.join(', ')})`, () => sameSet(late.nftSet(MIRROR), expected) && sameSet(late.server.banned(MIRROR), expected));
    return { since, expected, appliedMs, exactMs: Date.now() - started };
  }

  /**
   * A barrier on `node`'s path from fail2ban to the API: bans a fresh address there by hand and waits for its POST.
   * The publish action names its outbox events by the time they were written and the agent sends them in that
   * order, so once this POST is in, every event fail2ban wrote before it has been sent (or refused) too. No time
   * needs to pass.
   */
  async barrier(node: SharingNode): Promise<void> {
    const ip = `198.51.100.${200 + this.markers++}`;
    const name = banRecordName(JAIL, ip, node.name);
    this.published.set(name, node.name);
    node.server.client('set', JAIL, 'banip', ip);
    await this.until(`the barrier's POST of ${ip} from ${node.name}`, () => this.lab.kube.writes().some((w) => w.method === 'POST' && w.name === name));
  }

  /** Every write the agents made over the run, against one POST per published ban and one DELETE per owner unban. */
  checkWrites(): void {
    const expected = [...[...this.published].map(([name, node]) => `POST ${name} ${node} 201`), ...this.withdrawn.map((name) => `DELETE ${name} ${this.published.get(name)} 200`)];
    const writes = this.lab.kube.writes().map(describeWrite);
    console.log(`API writes by the agents: ${writes.length}: ${writes.filter((w) => w.startsWith('POST')).length} POST for ${this.published.size} bans, ${writes.filter((w) => w.startsWith('DELETE')).length} DELETE for ${this.withdrawn.length} owner unbans`);
    const unexpected = this.lab.kube.writes().filter((w) => !expected.includes(describeWrite(w)));
    if (unexpected.length > 0) console.log(`unexpected writes at ${unexpected.map((w) => `${new Date(w.at).toISOString().slice(11, 23)} ${describeWrite(w)}`).join(', ')}\n${this.lab.logs()}`);
    assert.deepEqual(writes.sort(), expected.sort());
  }
}

/**
 * A suite on its own lab: three real fail2ban-servers sharing sshd bans through the synthesized agent and a
 * stand-in for the Kubernetes API (docs/ban-sharing.md). `tests` registers the suite's tests, in the order they run;
 * the last test holds the agents to exactly the writes the tests expected.
 */
export function describeSharingLab(title: string, tests: (session: SharingSession) => void): void {
  describeWithTools(
    TOOLS,
    `cluster-wide ban sharing, ${title}: three fail2ban-servers, their agents and a stand-in for the Kubernetes API`,
    () => {
      const session = new SharingSession();
      beforeAll(() => session.start());
      afterAll(() => session.destroy());
      tests(session);
      test('over the whole run, the agents wrote one POST per ban and one DELETE per owner unban, nothing else', () => session.checkWrites());
    },
    { root: true },
  );
}
