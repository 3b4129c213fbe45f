import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import { Duration } from 'cdk8s';
import { describeWithTools, findTool } from './fail2ban-tools';
import { FIXTURE_SSHD } from './fixture';
import { synthesize } from './harness/lab';
import { METRIC_CATALOG } from './harness/metric-catalog';
import { SharingLab, SharingNode } from './harness/sharing-lab';
import { waitFor } from './harness/wait';

// GIVEN the fixture with metrics on (a snapshot of fail2ban at most every second), synthesized and run on the lab
// nodes: real fail2ban-servers, the synthesized agents and brokers; WHEN addresses fail, are banned and unbanned, and
// fail2ban restarts; THEN what a scrape says of every jail is what `fail2ban-client status JAIL` says, the counters
// only grow, Prometheus' own promtool accepts the exposition, and no address is in it.
const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare', 'openssl'];
const SNAPSHOT = Duration.seconds(1);

function get(port: number, path = '/metrics'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      })
      .on('error', reject);
  });
}

/** The samples of an exposition: `name{label="value",…}` → value. */
function samples(text: string): Map<string, number> {
  return new Map(
    text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const cut = line.lastIndexOf(' ');
        return [line.slice(0, cut), Number(line.slice(cut + 1))];
      }),
  );
}

/** `fail2ban-client status JAIL`'s four counts. */
function statusOf(node: SharingNode, jail: string): Record<string, number> {
  const out = node.server.client('status', jail);
  const count = (what: string) => Number(new RegExp(`${what}:\\s+(\\d+)`).exec(out)![1]);
  return { failedCurrent: count('Currently failed'), failedTotal: count('Total failed'), bannedCurrent: count('Currently banned'), bannedTotal: count('Total banned') };
}

describeWithTools(TOOLS, "the node agent's metrics against a real fail2ban-server", () => {
  let lab: SharingLab;
  let node: SharingNode;
  beforeAll(async () => {
    lab = await SharingLab.start(synthesize({ metrics: { snapshotInterval: SNAPSHOT } }));
    node = lab.node('k3s-server');
  });
  afterAll(() => lab?.destroy());

  /** A scrape taken after fail2ban's state settled: the next snapshot starts after `since`. */
  async function scrapeAfter(since: number): Promise<{ text: string; values: Map<string, number> }> {
    // Any snapshot a scrape gets is younger than the interval: after since + interval, it was taken after `since`.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, since + SNAPSHOT.toMilliseconds() + 100 - Date.now())));
    const text = (await get(node.metricsPort!)).body;
    return { text, values: samples(text) };
  }

  function jails(): string[] {
    return node.server.client('status').split('Jail list:')[1].split(',').map((jail) => jail.trim()).filter(Boolean);
  }

  function expectEqualToStatus(values: Map<string, number>): void {
    const names = jails();
    expect(values.get('f2b_up')).toBe(1);
    expect(values.get('f2b_jail_count')).toBe(names.length);
    for (const jail of names) {
      const status = statusOf(node, jail);
      const of = (name: string) => values.get(`${name}{jail="${jail}"}`);
      expect({ jail, failedCurrent: of('f2b_jail_failed_current'), failedTotal: of('f2b_jail_failed_total'), bannedCurrent: of('f2b_jail_banned_current'), bannedTotal: of('f2b_jail_banned_total') }).toEqual({ jail, ...status });
      expect(of('f2b_config_jail_max_retries')).toBe(Number(node.server.client('get', jail, 'maxretry')));
      expect(of('f2b_config_jail_ban_time')).toBe(Number(node.server.client('get', jail, 'bantime')));
      expect(of('f2b_config_jail_find_time')).toBe(Number(node.server.client('get', jail, 'findtime')));
    }
  }

  test('after failures, bans and unbans, every jail’s counts are what fail2ban-client status says', async () => {
    node.sshdFailures('203.0.113.20');
    node.sshdFailures('203.0.113.21');
    node.sshdFailures('203.0.113.22', FIXTURE_SSHD.maxRetry! - 1);
    await waitFor('the two bans', () => node.server.banned('sshd').length === 2);
    node.server.client('set', 'sshd', 'unbanip', '203.0.113.21');
    const { values } = await scrapeAfter(Date.now());
    expectEqualToStatus(values);
    expect(values.get('f2b_jail_banned_current{jail="sshd"}')).toBe(1);
    expect(values.get('f2b_jail_banned_total{jail="sshd"}')).toBe(2);
    expect(values.get('f2b_jail_failed_current{jail="sshd"}')).toBeGreaterThan(0);
  });

  test('no address is in the exposition, and only series of the catalog', async () => {
    const { text } = await scrapeAfter(Date.now());
    expect(text).not.toMatch(/\b(?:203\.0\.113|198\.51\.100|192\.0\.2)\.\d+\b/);
    const catalog = METRIC_CATALOG.map((series) => series.name);
    const names = [...samples(text).keys()].map((key) => key.split('{')[0]);
    expect(names.filter((name) => !catalog.includes(name))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['f2b_up', 'f2b_version', 'f2b_agent_last_sync_timestamp_seconds']));
  });

  test("Prometheus' promtool parses the exposition and finds nothing to lint but the exporter's two names", async () => {
    const promtool = findTool('promtool');
    if (!promtool) {
      if (process.env.CI === 'true') throw new Error('promtool is missing under CI=true (.ci/run installs Debian’s prometheus)');
      console.warn('promtool is not installed: the exposition is not linted');
      return;
    }
    const { text } = await scrapeAfter(Date.now());
    const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    // Exit 3: lint findings only (a text that does not parse exits 1); these two are the exporter's names, which its
    // dashboard queries (agent/metrics.json).
    expect({ code: result.status, out: (result.stdout + result.stderr).split('\n').filter(Boolean).sort() }).toEqual({
      code: 3,
      out: ['f2b_errors counter metrics should have "_total" suffix', 'f2b_jail_count non-histogram and non-summary metrics should not have "_count" suffix'],
    });
    // The control: without those two, nothing is left to say.
    const rest = text.split('\n').filter((line) => !/^(# (HELP|TYPE) )?f2b_(errors|jail_count)\b/.test(line)).join('\n');
    expect(spawnSync(promtool, ['check', 'metrics'], { input: rest, encoding: 'utf8' }).status).toBe(0);
  });

  test('fail2ban restarts: the counters go on from where they were, and the bans it restores are no new ones', async () => {
    const before = (await scrapeAfter(Date.now())).values;
    const total = (values: Map<string, number>, name = 'f2b_jail_banned_total') => values.get(`${name}{jail="sshd"}`)!;
    await node.server.stopServer();
    const down = (await scrapeAfter(Date.now())).values;
    expect(down.get('f2b_up')).toBe(0);
    expect(down.get('f2b_errors{type="socket_conn"}')).toBeGreaterThan(0);
    await node.server.startServer();
    await waitFor('the ban restored from the database', () => node.server.banned('sshd').includes('203.0.113.20'));
    const restarted = (await scrapeAfter(Date.now())).values;
    expect(statusOf(node, 'sshd').bannedTotal).toBeGreaterThan(0); // fail2ban counts what it restored
    expect(total(restarted)).toBe(total(before));
    const baseline = statusOf(node, 'sshd');
    node.sshdFailures('203.0.113.23');
    await waitFor('the ban after the restart', () => node.server.banned('sshd').includes('203.0.113.23'));
    const after = (await scrapeAfter(Date.now())).values;
    expect(total(after)).toBe(total(before) + statusOf(node, 'sshd').bannedTotal - baseline.bannedTotal);
    expect(total(after)).toBe(total(before) + 1);
    expect(total(after, 'f2b_jail_failed_total')).toBe(total(before, 'f2b_jail_failed_total') + statusOf(node, 'sshd').failedTotal - baseline.failedTotal);
  });

  test("the agent's own: an operator's order applied, the last read of the API", async () => {
    const ip = '203.0.113.40';
    const { status } = await lab.kube.call('POST', lab.kube.path(undefined, 'operatorbans'), lab.adminToken, {
      apiVersion: 'fail2ban.homelab.internal/v1',
      kind: 'OperatorBan',
      metadata: { name: `sshd.v4-${ip.replace(/\./g, '-')}`, namespace: 'fail2ban' },
      spec: { jail: 'sshd', ip, action: 'ban', orderedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    });
    expect(status).toBe(201);
    await waitFor('the order applied', () => node.nftSet('sshd-operator').includes(ip));
    const { values } = await scrapeAfter(Date.now());
    expect(values.get('f2b_agent_operator_orders_applied_total{action="ban"}')).toBe(1);
    expect(values.get('f2b_agent_last_sync_timestamp_seconds{source="api"}')).toBeGreaterThan(Date.now() / 1000 - 3600);
    expect(values.get('f2b_jail_banned_current{jail="sshd-operator"}')).toBe(1);
  });

  test('only /metrics is served', async () => {
    expect((await get(node.metricsPort!, '/')).status).toBe(404);
  });
});
