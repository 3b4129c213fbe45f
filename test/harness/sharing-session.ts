import { describeWithTools } from '../fail2ban-tools';
import { banName, RecordedRequest } from './fake-kube-api';
import { waitFor } from './lab';
import { NodeName, SharingLab, SharingNode } from './sharing-lab';

// What the ban-sharing lab suites share: one lab per suite file (so that the suites run side by side on jest's
// workers), the bookkeeping of what the sidecars should have written, and the steps every suite takes.

const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'];
export const JAIL = 'sshd';
export const MIRROR = 'sshd-cluster';
/** The contract: every node bans within seconds; the lab holds it to this. */
export const PROPAGATION_MS = 2000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
const summary = (values: number[]) => (values.length ? `median ${median(values)} ms, max ${Math.max(...values)} ms (n=${values.length})` : 'not measured here');
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));
export const describeWrite = (w: RecordedRequest) => `${w.method} ${w.name} ${w.identity?.node} ${w.status}`;
export const rfc3339 = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

/** One lab and what its tests expect of it; the tests of a suite run in order and build on each other's bans. */
export class SharingSession {
  private started?: SharingLab;
  /** Record name → the node that published it: every ban the sidecars should have written. */
  readonly published = new Map<string, NodeName>();
  /** Owner unbans: record names the owners should have deleted. */
  readonly withdrawn: string[] = [];
  /** Addresses of records no node may apply (never-ban, loopback, future). */
  readonly refused = new Set<string>();
  readonly measured = { propagation: [] as number[], unban: [] as number[], adminUnban: [] as number[] };

  get lab(): SharingLab {
    if (!this.started) throw new Error('the lab did not start');
    return this.started;
  }

  async start(): Promise<void> {
    const started = Date.now();
    this.started = await SharingLab.start();
    console.log(`three nodes and their sidecars started in ${Date.now() - started} ms`);
  }

  async destroy(): Promise<void> {
    if (this.started) {
      console.log(
        [
          `ban propagation (origin's nftables → other node's mirror set): ${summary(this.measured.propagation)}`,
          `unban propagation, owner unban (origin's nftables → other node's mirror set): ${summary(this.measured.unban)}`,
          `unban propagation, admin delete (DELETE answered → node's nftables): ${summary(this.measured.adminUnban)}`,
        ].join('\n'),
      );
    }
    await this.started?.destroy();
  }

  /** `waitFor` that shows the sidecars' logs when it times out. */
  async within(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    try {
      await waitFor(what, check, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- sidecar logs:\n${this.lab.logs()}`);
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
      .filter((ip) => !this.refused.has(ip));
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
    this.published.set(banName(JAIL, ip), origin.name);
    await this.within(`${origin.name} to ban ${ip}`, () => origin.nftEventAt('add', JAIL, ip, since) !== undefined, 5000);
    const banned = origin.nftEventAt('add', JAIL, ip, since)!;
    for (const node of this.others(origin)) {
      await this.within(`${node.name} to ban ${ip} in ${MIRROR}`, () => node.nftEventAt('add', MIRROR, ip, since) !== undefined, banned + PROPAGATION_MS - Date.now());
    }
    const delays = this.others(origin).map((node) => node.nftEventAt('add', MIRROR, ip, since)! - banned);
    this.measured.propagation.push(...delays);
    return delays;
  }

  /** Unbans `ip` on its origin; resolves with how long after the origin's nftables every receiver unbanned it. */
  async ownerUnban(origin: SharingNode, ip: string, receivers = this.others(origin)): Promise<number[]> {
    const lab = this.lab;
    const name = banName(JAIL, ip);
    const since = Date.now();
    origin.server.client('set', JAIL, 'unbanip', ip);
    await this.within(`${origin.name} to unban ${ip}`, () => origin.nftEventAt('delete', JAIL, ip, since) !== undefined, 5000);
    const unbanned = origin.nftEventAt('delete', JAIL, ip, since)!;
    await this.within(`the record ${name} to be deleted`, () => !lab.kube.objects.has(name), unbanned + PROPAGATION_MS - Date.now());
    this.withdrawn.push(name);
    for (const node of receivers) {
      await this.within(`${node.name} to unban ${ip} from ${MIRROR}`, () => node.nftEventAt('delete', MIRROR, ip, since) !== undefined, unbanned + PROPAGATION_MS - Date.now());
    }
    const delays = receivers.map((node) => node.nftEventAt('delete', MIRROR, ip, since)! - unbanned);
    this.measured.unban.push(...delays);
    expect(lab.kube.writes().filter((w) => w.at >= since).map(describeWrite)).toEqual([`DELETE ${name} ${origin.name} 200`]);
    for (const node of [origin, ...receivers]) {
      expect(node.nftSet(JAIL)).not.toContain(ip);
      expect(node.nftSet(MIRROR)).not.toContain(ip);
    }
    return delays;
  }

  /** Every write the sidecars made over the run, against one POST per published ban and one DELETE per owner unban. */
  checkWrites(): void {
    const expected = [...[...this.published].map(([name, node]) => `POST ${name} ${node} 201`), ...this.withdrawn.map((name) => `DELETE ${name} ${this.published.get(name)} 200`)];
    const writes = this.lab.kube.writes().map(describeWrite);
    console.log(`API writes by the sidecars: ${writes.length}: ${writes.filter((w) => w.startsWith('POST')).length} POST for ${this.published.size} bans, ${writes.filter((w) => w.startsWith('DELETE')).length} DELETE for ${this.withdrawn.length} owner unbans`);
    const unexpected = this.lab.kube.writes().filter((w) => !expected.includes(describeWrite(w)));
    if (unexpected.length > 0) console.log(`unexpected writes at ${unexpected.map((w) => `${new Date(w.at).toISOString().slice(11, 23)} ${describeWrite(w)}`).join(', ')}\n${this.lab.logs()}`);
    expect(writes.sort()).toEqual(expected.sort());
  }
}

/**
 * A suite on its own lab: three real fail2ban-servers sharing sshd bans through the synthesized sidecar and a
 * stand-in for the Kubernetes API (docs/ban-sharing.md). `tests` registers the suite's tests, in the order they run;
 * the last test holds the sidecars to exactly the writes the tests expected.
 */
export function describeSharingLab(title: string, tests: (session: SharingSession) => void): void {
  describeWithTools(
    TOOLS,
    `cluster-wide ban sharing, ${title}: three fail2ban-servers, their sidecars and a stand-in for the Kubernetes API`,
    () => {
      const session = new SharingSession();
      beforeAll(() => session.start(), 30_000);
      afterAll(() => session.destroy());
      tests(session);
      test('over the whole run, the sidecars wrote one POST per ban and one DELETE per owner unban, nothing else', () => session.checkWrites());
    },
    { root: true },
  );
}
