import { Fail2banLab, readSynthesized, sshdFailedPassword, syslogTime, waitFor } from './harness/lab';
import { describeWithTools } from './fail2ban-tools';

const config = readSynthesized();
const timeZone = config.env.TZ;
const now = () => syslogTime(timeZone);
/** How long a ban may take after fail2ban counted the failure that triggers it (measured: ~0.15 s). */
const SETTLE_MS = 1000;

let connection = 0;

/** Lines as sshd writes them to auth.log, one connection (process) each. */
function sshdFailures(address: string, count: number): string[] {
  return Array.from({ length: count }, () => {
    connection++;
    return sshdFailedPassword(now(), 'k3s-agent-1', 4000 + connection, address, 50000 + connection, 'admin');
  });
}

/** Lines as k3s writes them to syslog for a request with bad credentials. */
function k3sFailures(address: string, count: number): string[] {
  const peer = address.includes(':') ? `[${address}]` : address;
  return Array.from(
    { length: count },
    (_, i) => `${now()} k3s-server k3s[812]: time="${new Date().toISOString()}" level=error msg="Failed to authenticate request from ${peer}:${40000 + i}: invalid username/password combination"`,
  );
}

/** Audit events as kube-apiserver writes them for a request with bad credentials, behind a forged X-Forwarded-For. */
function auditFailures(address: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const time = new Date().toISOString().replace('Z', '000Z');
    return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5b6f0a52-0000-4000-8000-00000000000${i % 10}","stage":"ResponseStarted","requestURI":"/api/v1/secrets","verb":"list","user":{},"sourceIPs":["192.0.2.99","${address}"],"userAgent":"curl/8.5.0","responseStatus":{"metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401},"requestReceivedTimestamp":"${time}","stageTimestamp":"${time}"}`;
  });
}

describeWithTools(['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'], 'the synthesized configuration in a real fail2ban-server', () => {
  let lab: Fail2banLab;

  beforeAll(async () => {
    // The audit-log jail ships turned off; turn it on here as a user would.
    lab = await Fail2banLab.start({ name: 'f2b-e2e', jailOverrides: '[k3s-apiserver-audit]\nenabled = true' });
  }, 20_000);

  afterAll(() => {
    lab?.destroy();
  });

  function logOf(jail: string): string {
    return { sshd: '/var/log/host/auth.log', 'k3s-apiserver': '/var/log/host/syslog', 'k3s-apiserver-audit': '/var/log/host/k3s-audit.log' }[jail]!;
  }

  test('runs every configured jail with its maxretry, findtime and bantime', () => {
    expect(lab.client('status').match(/Jail list:\s+(.*)/)![1].split(', ').sort()).toEqual(['k3s-apiserver', 'k3s-apiserver-audit', 'sshd']);
    expect(lab.client('get', 'sshd', 'maxretry')).toBe('3');
    expect(lab.client('get', 'sshd', 'findtime')).toBe('600');
    expect(lab.client('get', 'sshd', 'bantime')).toBe('86400');
    expect(lab.client('get', 'k3s-apiserver', 'maxretry')).toBe('10');
    expect(lab.client('get', 'k3s-apiserver', 'findtime')).toBe('600');
    expect(lab.client('get', 'k3s-apiserver', 'bantime')).toBe('3600');
    expect(lab.client('get', 'sshd', 'ignoreip')).toContain('100.64.0.0/10');
  });

  /** A threshold to check: `below` leaves the address one failure short of a ban, `last` is the failure that bans. */
  interface Threshold {
    readonly jail: string;
    readonly address: string;
    readonly below: string[];
    readonly last: string[];
  }
  const thresholds: Record<string, Threshold> = {
    sshdV4: { jail: 'sshd', address: '192.0.2.10', below: sshdFailures('192.0.2.10', 2), last: sshdFailures('192.0.2.10', 1) },
    sshdV6: { jail: 'sshd', address: '2001:db8::10', below: sshdFailures('2001:db8::10', 2), last: sshdFailures('2001:db8::10', 1) },
    k3s: { jail: 'k3s-apiserver', address: '198.51.100.20', below: k3sFailures('198.51.100.20', 9), last: k3sFailures('198.51.100.20', 1) },
    k3sV6: { jail: 'k3s-apiserver', address: '2001:db8::20', below: [], last: k3sFailures('2001:db8::20', 10) },
    audit: { jail: 'k3s-apiserver-audit', address: '203.0.113.40', below: auditFailures('203.0.113.40', 9), last: auditFailures('203.0.113.40', 1) },
  };
  const IGNORED = ['127.0.0.1', '100.64.1.2', '::1'];
  const JAILS = ['sshd', 'k3s-apiserver', 'k3s-apiserver-audit'];
  /** Each jail's bans as the server lists them: once every address is one failure short, and after the last one. */
  const banned: Record<'short' | 'after', Record<string, string[]>> = { short: {}, after: {} };
  const ignored = (address: string) => lab.serverLog().split(`Ignore ${address} by `).length - 1;

  /** Appends lines to each jail's log and waits until the jails have counted every failure. */
  async function feed(lines: Array<[string, string[]]>): Promise<void> {
    const counted = Object.fromEntries(JAILS.map((jail) => [jail, lab.totalFailed(jail)]));
    for (const [jail, jailLines] of lines) {
      lab.appendLog(logOf(jail), jailLines);
      counted[jail] += jailLines.length;
    }
    await waitFor(`every jail to count its failures (${JSON.stringify(counted)})`, () => JAILS.every((jail) => lab.totalFailed(jail) >= counted[jail]));
  }

  // Every jail is fed at once: the addresses one failure short of a ban, and the never-ban addresses, then (after
  // the time a ban takes, several times over) the failures that ban.
  beforeAll(async () => {
    const cases = Object.values(thresholds);
    lab.appendLog(logOf('sshd'), IGNORED.flatMap((address) => sshdFailures(address, 5)));
    await feed(cases.map((c) => [c.jail, c.below]));
    await waitFor('fail2ban to ignore every never-ban address 5 times', () => IGNORED.every((address) => ignored(address) >= 5));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    for (const jail of JAILS) banned.short[jail] = lab.banned(jail);

    const bansBefore = cases.map((c) => lab.logged(c.jail, 'Ban', c.address));
    await feed(cases.map((c) => [c.jail, c.last]));
    const allBanned = () => cases.every((c, i) => lab.logged(c.jail, 'Ban', c.address) > bansBefore[i]);
    // A threshold that fails shows in its own test below, not here.
    await waitFor('every address to be banned', allBanned, 5 * SETTLE_MS).catch(() => undefined);
    for (const jail of JAILS) banned.after[jail] = lab.banned(jail);
  }, 20_000);

  function expectThreshold({ jail, address, below }: Threshold): void {
    if (below.length > 0) expect(banned.short[jail]).not.toContain(address);
    expect(banned.after[jail]).toContain(address);
  }

  test('sshd bans an address after 3 failures and not after 2', () => expectThreshold(thresholds.sshdV4));

  test('sshd bans an IPv6 address', () => expectThreshold(thresholds.sshdV6));

  test('k3s-apiserver bans an address after 10 failures and not after 9', () => expectThreshold(thresholds.k3s));

  test('k3s-apiserver bans a bracketed IPv6 peer', () => expectThreshold(thresholds.k3sV6));

  test('the audit-log jail, once turned on, bans the TCP peer of unauthenticated requests after 10', () => {
    expectThreshold(thresholds.audit);
    expect(banned.after['k3s-apiserver-audit']).not.toContain('192.0.2.99');
  });

  test.each(IGNORED)('never bans %s (ignoreip)', (address) => {
    expect(ignored(address)).toBe(5);
    expect(banned.short.sshd).not.toContain(address);
    expect(banned.after.sshd).not.toContain(address);
  });

  test('banned addresses are in the nftables ruleset of the node', async () => {
    const addresses = ['192.0.2.10', '2001:db8::10', '198.51.100.20'];
    // fail2ban logs a ban before its action runs.
    await waitFor('the bans in nftables', () => {
      const listed = lab.nft('list', 'ruleset');
      return addresses.every((address) => listed.includes(address));
    });
    const ruleset = lab.nft('list', 'ruleset');
    expect(ruleset).toContain('table inet f2b-table');
    for (const address of addresses) {
      expect(ruleset).toContain(address);
    }
    expect(ruleset).not.toContain('100.64.1.2');
  });

  test('a clean stop removes the nftables table, and a restart restores the bans from the database', async () => {
    const bans: Array<[string, string]> = [['sshd', '192.0.2.10'], ['sshd', '2001:db8::10'], ['k3s-apiserver', '198.51.100.20'], ['k3s-apiserver', '2001:db8::20']];
    const restored = () => bans.map(([jail, ip]) => lab.logged(jail, 'Restore Ban', ip));
    const before = restored();
    await lab.stopServer();
    expect(lab.nft('list', 'tables')).not.toContain('f2b-table');
    await lab.startServer();
    await waitFor('bans to be restored', () => restored().every((count, i) => count > before[i]));
    expect(lab.banned('sshd').sort()).toEqual(['192.0.2.10', '2001:db8::10']);
    expect(lab.banned('k3s-apiserver').sort()).toEqual(['198.51.100.20', '2001:db8::20']);
    await waitFor('restored bans in nftables', () => lab.nft('list', 'ruleset').includes('192.0.2.10'));
  }, 20_000);
}, { root: true });
