import { Fail2banLab, synthesize, sshdFailedPassword, syslogTime } from './harness/lab';
import { waitFor } from './harness/wait';
import { describeWithTools } from './fail2ban-tools';
import { FIXTURE_AUDIT, FIXTURE_K3S_APISERVER, FIXTURE_SSHD } from './fixture';

// GIVEN the fixture's jails (sshd, k3s-apiserver, and the audit-log jail turned on as a user would), synthesized and
// run by a real fail2ban-server; WHEN failures are appended to the host logs; THEN the bans follow each jail's
// maxretry. Nothing here waits for time to pass: every check waits for what fail2ban logged.
const config = synthesize();
const timeZone = config.env.TZ;
const now = () => syslogTime(timeZone);
const MAX_RETRY = { sshd: FIXTURE_SSHD.maxRetry!, 'k3s-apiserver': FIXTURE_K3S_APISERVER.maxRetry!, 'k3s-apiserver-audit': FIXTURE_AUDIT.maxRetry! };

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

type JailName = keyof typeof MAX_RETRY;
const JAILS = Object.keys(MAX_RETRY) as JailName[];
const LOG_OF: Record<JailName, string> = { sshd: '/var/log/host/auth.log', 'k3s-apiserver': '/var/log/host/syslog', 'k3s-apiserver-audit': '/var/log/host/k3s-audit.log' };
const FAILURES: Record<JailName, (address: string, count: number) => string[]> = { sshd: sshdFailures, 'k3s-apiserver': k3sFailures, 'k3s-apiserver-audit': auditFailures };

describeWithTools(['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'], 'the synthesized configuration in a real fail2ban-server', () => {
  let lab: Fail2banLab;

  beforeAll(async () => {
    // The audit-log jail ships turned off; turn it on here as a user would.
    lab = await Fail2banLab.start({ name: 'f2b-e2e', config, jailOverrides: '[k3s-apiserver-audit]\nenabled = true' });
  });

  afterAll(() => {
    lab?.destroy();
  });

  test('runs every configured jail with its maxretry, findtime and bantime, and each its operator jail', () => {
    // The audit-log jail is turned on here, after synth: synth gave operator jails to the jails it found enabled.
    const operatorJails = ['sshd-operator', 'k3s-apiserver-operator'];
    expect(lab.client('status').match(/Jail list:\s+(.*)/)![1].split(', ').sort()).toEqual([...JAILS, ...operatorJails].sort());
    for (const jail of operatorJails) expect(lab.client('get', jail, 'bantime')).toBe('-1');
    for (const jail of JAILS) expect(lab.client('get', jail, 'maxretry')).toBe(String(MAX_RETRY[jail]));
    expect(lab.client('get', 'sshd', 'findtime')).toBe('600');
    expect(lab.client('get', 'sshd', 'bantime')).toBe('86400');
    expect(lab.client('get', 'k3s-apiserver', 'findtime')).toBe('600');
    expect(lab.client('get', 'k3s-apiserver', 'bantime')).toBe('3600');
    expect(lab.client('get', 'sshd', 'ignoreip')).toContain('100.64.0.0/10');
  });

  /** A threshold to check: `below` leaves the address one failure short of a ban, `last` is the failure that bans. */
  interface Threshold {
    readonly jail: JailName;
    readonly address: string;
    readonly below: string[];
    readonly last: string[];
  }
  const threshold = (jail: JailName, address: string, below = MAX_RETRY[jail] - 1): Threshold => ({
    jail,
    address,
    below: FAILURES[jail](address, below),
    last: FAILURES[jail](address, MAX_RETRY[jail] - below),
  });
  const thresholds = {
    sshdV4: threshold('sshd', '192.0.2.10'),
    sshdV6: threshold('sshd', '2001:db8::10'),
    k3s: threshold('k3s-apiserver', '198.51.100.20'),
    k3sV6: threshold('k3s-apiserver', '2001:db8::20', 0),
    audit: threshold('k3s-apiserver-audit', '203.0.113.40'),
  };
  /**
   * One address per jail that reaches its maxretry right after the addresses kept one short: a jail's filter reads
   * its log in order and its actions thread takes the tickets in order, so once fail2ban has logged the marker's
   * ban, it has logged every ban the lines before it caused. The check needs no time to pass.
   */
  const MARKERS: Record<JailName, string> = { sshd: '198.51.100.90', 'k3s-apiserver': '198.51.100.91', 'k3s-apiserver-audit': '198.51.100.92' };
  const IGNORED = ['127.0.0.1', '100.64.1.2', '::1'];
  /** Each jail's bans as the server lists them: once every address is one failure short, and after the last one. */
  const banned: Record<'short' | 'after', Record<string, string[]>> = { short: {}, after: {} };
  const ignored = (address: string) => lab.serverLog().split(`Ignore ${address} by `).length - 1;

  // Every jail is fed at once: the never-ban addresses, the addresses one failure short of a ban, and each jail's
  // marker; then the failures that ban.
  beforeAll(async () => {
    const cases = Object.values(thresholds);
    lab.appendLog(LOG_OF.sshd, IGNORED.flatMap((address) => sshdFailures(address, MAX_RETRY.sshd + 2)));
    for (const c of cases) lab.appendLog(LOG_OF[c.jail], c.below);
    for (const jail of JAILS) lab.appendLog(LOG_OF[jail], FAILURES[jail](MARKERS[jail], MAX_RETRY[jail]));
    await waitFor("every jail's marker to be banned", () => JAILS.every((jail) => lab.logged(jail, 'Ban', MARKERS[jail]) === 1));
    await waitFor('fail2ban to ignore every never-ban address each time', () => IGNORED.every((address) => ignored(address) >= MAX_RETRY.sshd + 2));
    for (const jail of JAILS) banned.short[jail] = lab.banned(jail);

    const bansBefore = cases.map((c) => lab.logged(c.jail, 'Ban', c.address));
    for (const c of cases) lab.appendLog(LOG_OF[c.jail], c.last);
    const allBanned = () => cases.every((c, i) => lab.logged(c.jail, 'Ban', c.address) > bansBefore[i]);
    // A threshold that fails shows in its own test below, not here.
    await waitFor('every address to be banned', allBanned).catch(() => undefined);
    for (const jail of JAILS) banned.after[jail] = lab.banned(jail);
  });

  function expectThreshold({ jail, address, below }: Threshold): void {
    if (below.length > 0) expect(banned.short[jail]).not.toContain(address);
    expect(banned.after[jail]).toContain(address);
  }

  test(`sshd bans an address after ${MAX_RETRY.sshd} failures and not after ${MAX_RETRY.sshd - 1}`, () => expectThreshold(thresholds.sshdV4));

  test('sshd bans an IPv6 address', () => expectThreshold(thresholds.sshdV6));

  test(`k3s-apiserver bans an address after ${MAX_RETRY['k3s-apiserver']} failures and not after ${MAX_RETRY['k3s-apiserver'] - 1}`, () => expectThreshold(thresholds.k3s));

  test('k3s-apiserver bans a bracketed IPv6 peer', () => expectThreshold(thresholds.k3sV6));

  test(`the audit-log jail, once turned on, bans the TCP peer of unauthenticated requests after ${MAX_RETRY['k3s-apiserver-audit']}`, () => {
    expectThreshold(thresholds.audit);
    expect(banned.after['k3s-apiserver-audit']).not.toContain('192.0.2.99');
  });

  test.each(IGNORED)('never bans %s (ignoreip)', (address) => {
    expect(ignored(address)).toBe(MAX_RETRY.sshd + 2);
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
    const expected = { sshd: ['192.0.2.10', '2001:db8::10', MARKERS.sshd], 'k3s-apiserver': ['198.51.100.20', '2001:db8::20', MARKERS['k3s-apiserver']] };
    const bans = Object.entries(expected).flatMap(([jail, ips]) => ips.map((ip) => [jail, ip] as const));
    const restored = () => bans.map(([jail, ip]) => lab.logged(jail as JailName, 'Restore Ban', ip));
    const before = restored();
    await lab.stopServer();
    expect(lab.nft('list', 'tables')).not.toContain('f2b-table');
    await lab.startServer();
    await waitFor('bans to be restored', () => restored().every((count, i) => count > before[i]));
    expect(lab.banned('sshd').sort()).toEqual(expected.sshd.sort());
    expect(lab.banned('k3s-apiserver').sort()).toEqual(expected['k3s-apiserver'].sort());
    await waitFor('restored bans in nftables', () => lab.nft('list', 'ruleset').includes('192.0.2.10'));
  });
}, { root: true });
