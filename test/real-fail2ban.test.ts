import { Fail2banLab, readSynthesized, syslogTime, waitFor } from './harness/lab';
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
    return `${now()} k3s-agent-1 sshd[${4000 + connection}]: Failed password for invalid user admin from ${address} port ${50000 + connection} ssh2`;
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

  /** Appends failures and reports whether they got the address banned, as the server lists its bans. */
  async function bans(jail: string, lines: string[], address: string): Promise<boolean> {
    const counted = lab.totalFailed(jail) + lines.length;
    const banned = lab.logged(jail, 'Ban', address);
    lab.appendLog(logOf(jail), lines);
    await waitFor(`${jail} to count ${counted} failures`, () => lab.totalFailed(jail) >= counted);
    await waitFor(`${jail} to ban ${address}`, () => lab.logged(jail, 'Ban', address) > banned, SETTLE_MS).catch(() => undefined);
    return lab.banned(jail).includes(address);
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

  test('sshd bans an address after 3 failures and not after 2', async () => {
    expect(await bans('sshd', sshdFailures('192.0.2.10', 2), '192.0.2.10')).toBe(false);
    expect(await bans('sshd', sshdFailures('192.0.2.10', 1), '192.0.2.10')).toBe(true);
  });

  test('sshd bans an IPv6 address', async () => {
    expect(await bans('sshd', sshdFailures('2001:db8::10', 2), '2001:db8::10')).toBe(false);
    expect(await bans('sshd', sshdFailures('2001:db8::10', 1), '2001:db8::10')).toBe(true);
  });

  test('k3s-apiserver bans an address after 10 failures and not after 9', async () => {
    expect(await bans('k3s-apiserver', k3sFailures('198.51.100.20', 9), '198.51.100.20')).toBe(false);
    expect(await bans('k3s-apiserver', k3sFailures('198.51.100.20', 1), '198.51.100.20')).toBe(true);
  });

  test('k3s-apiserver bans a bracketed IPv6 peer', async () => {
    expect(await bans('k3s-apiserver', k3sFailures('2001:db8::20', 10), '2001:db8::20')).toBe(true);
  });

  test('the audit-log jail, once turned on, bans the TCP peer of unauthenticated requests after 10', async () => {
    expect(await bans('k3s-apiserver-audit', auditFailures('203.0.113.40', 9), '203.0.113.40')).toBe(false);
    expect(await bans('k3s-apiserver-audit', auditFailures('203.0.113.40', 1), '203.0.113.40')).toBe(true);
    expect(lab.banned('k3s-apiserver-audit')).not.toContain('192.0.2.99');
  });

  test.each(['127.0.0.1', '100.64.1.2', '::1'])('never bans %s (ignoreip)', async (address) => {
    const ignored = () => lab.serverLog().split(`Ignore ${address} by `).length - 1;
    lab.appendLog(logOf('sshd'), sshdFailures(address, 5));
    await waitFor(`fail2ban to ignore ${address} 5 times`, () => ignored() >= 5);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(lab.banned('sshd')).not.toContain(address);
  });

  test('banned addresses are in the nftables ruleset of the node', () => {
    const ruleset = lab.nft('list', 'ruleset');
    expect(ruleset).toContain('table inet f2b-table');
    for (const address of ['192.0.2.10', '2001:db8::10', '198.51.100.20']) {
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
