import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { BansSettings, bansSettings } from '../src/bans/settings';
import { execFileKubectl, KubectlRunner } from '../src/bans/kubectl';
import { runBans } from '../src/bans/run';
import { normalizeAddress } from '../src/bans/validate';
import { hostLog } from '../src/model/log-path';
import { describeWithTools } from './fail2ban-tools';
import { FIXTURE } from './fixture';
import { FakeKubeApi, RecordedRequest } from './harness/fake-kube-api';
import { testCertificate } from './harness/tls';
import { waitFor } from './harness/wait';
import { tempDir } from './helpers';

// The CLI runs in-process with the real kubectl against the stand-in API, over HTTPS (kubectl sends a bearer token
// over TLS only), as the ban manager. The test plays the nodes' agents: it writes their Fail2banNode reports with
// their own tokens, through the same API.

const config = bansSettings(FIXTURE);
const NAMESPACE = config.namespace;
const NODES = ['k3s-agent-1', 'k3s-agent-2', 'k3s-server'];
const ADMIN = 'admin-token';
const MANAGER = 'ban-manager-token';
const nodeToken = (node: string) => `token-of-${node}`;
const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  /** The requests the CLI made (through kubectl), in order. */
  readonly sent: RecordedRequest[];
}

interface RunOptions {
  readonly config?: BansSettings;
  readonly summaryFile?: string;
  /** Wraps the real kubectl, e.g. to act between two of the CLI's calls. */
  readonly wrap?: (kubectl: KubectlRunner) => KubectlRunner;
}

let work: string;
let ca: string;
let kubeEnv: NodeJS.ProcessEnv;
let api: FakeKubeApi;
/** What the played agents could not do: a test fails on it. */
let agentFailures: string[];
let stopWatches: Array<() => void>;

/** `npm run bans -- ARGV` in-process, as the ban manager. */
async function bans(argv: string[], options: RunOptions = {}): Promise<Run> {
  const before = api.requests.length;
  const out: string[] = [];
  const err: string[] = [];
  const real = execFileKubectl('kubectl', kubeEnv);
  const code = await runBans(argv, options.config ?? config, {
    kubectl: options.wrap ? options.wrap(real) : real,
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    summaryFile: options.summaryFile,
  });
  const sent = api.requests.slice(before).filter((request) => !request.fromTest);
  return { code, out: out.join('\n'), err: err.join('\n'), sent };
}

/** A request of the test's own, over HTTPS with the stand-in's CA. */
function request(method: string, urlPath: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-from-test': '1' };
    const req = https.request(`${api.url}${urlPath}`, { method, ca, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** An order as stored. */
function storedOrder(name: string): any {
  return api.objectsOf('operatorbans').get(name);
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** How a played agent answers an order. */
type Behaviour = 'apply' | 'silent' | { readonly refuse: string };

/** One node's agent as far as its report goes: its jail lists, its order results, and its writes of them. */
class PlayedNode {
  readonly jails: Record<string, { count: number; addresses: string[] }> = {};
  readonly orders: Record<string, { uid: string; generation: number; result: string; detail?: string }> = {};
  reportedAt?: string;
  error?: string;
  private stored?: any;

  constructor(
    readonly name: string,
    readonly behaviour: Behaviour = 'apply',
  ) {}

  /** Lists addresses in a jail (count: more than listed, as a capped report). */
  hold(jail: string, addresses: string[], count = addresses.length): this {
    this.jails[jail] = { count, addresses };
    return this;
  }

  /** Writes the report with the node's own token: POST the first time, then PUT with the last resourceVersion. */
  async report(): Promise<void> {
    const status = {
      node: this.name,
      reportedAt: this.reportedAt ?? timestamp(new Date()),
      orders: this.orders,
      jails: this.jails,
      ...(this.error !== undefined && { error: this.error }),
    };
    const body = { apiVersion: `${config.group}/v1`, kind: 'Fail2banNode', metadata: this.stored?.metadata ?? { name: this.name }, status };
    const answer = this.stored
      ? await request('PUT', api.path(this.name, 'fail2bannodes'), nodeToken(this.name), body)
      : await request('POST', api.path(undefined, 'fail2bannodes'), nodeToken(this.name), body);
    if (answer.status !== 200 && answer.status !== 201) {
      throw new Error(`${this.name}'s report was refused: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    this.stored = answer.body;
  }

  /** What the agent does with an order: ban or unban in the operator jail, as docs/operator-bans.md says. */
  async apply(order: any): Promise<void> {
    if (this.behaviour === 'silent') {
      return;
    }
    const { jail, ip, action } = order.spec;
    const { uid, generation } = order.metadata;
    if (typeof this.behaviour === 'object') {
      this.orders[order.metadata.name] = { uid, generation, result: 'refused', detail: this.behaviour.refuse };
    } else {
      const held = (this.jails[config.operatorJails[jail]] ??= { count: 0, addresses: [] });
      const had = held.addresses.includes(ip);
      held.addresses = action === 'ban' ? [...new Set([...held.addresses, ip])].sort() : held.addresses.filter((a) => a !== ip);
      held.count = held.addresses.length;
      this.orders[order.metadata.name] = { uid, generation, result: had === (action === 'ban') ? 'unchanged' : 'changed' };
    }
    await this.report();
  }
}

/**
 * The nodes report once, then answer every order as it is written: a WATCH on the orders (from the start, so none
 * is missed), each event handled in turn.
 */
async function playNodes(nodes: PlayedNode[]): Promise<PlayedNode[]> {
  for (const node of nodes) {
    await node.report();
  }
  let queue = Promise.resolve();
  const onLine = (line: string) => {
    const event = JSON.parse(line);
    if (event.type !== 'ADDED' && event.type !== 'MODIFIED') return;
    queue = queue.then(() => Promise.all(nodes.map((node) => node.apply(event.object)))).then(
      () => undefined,
      (error: Error) => void agentFailures.push(error.message),
    );
  };
  const headers = { authorization: `Bearer ${ADMIN}`, 'x-from-test': '1' };
  const req = https.request(`${api.url}${api.path(undefined, 'operatorbans')}?watch=true`, { ca, headers }, (res) => {
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.trim() !== '') onLine(line);
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  stopWatches.push(() => req.destroy());
  return nodes;
}

/**
 * A kubectl that returns from the order's create only once k3s-agent-1 and k3s-server have reported it: the CLI's
 * short --timeout then waits for k3s-agent-2 alone, however busy the machine.
 */
function answeredBeforeTheWait(order: string): (kubectl: KubectlRunner) => KubectlRunner {
  const answered = () => ['k3s-agent-1', 'k3s-server'].every((node) => api.objectsOf('fail2bannodes').get(node)?.status.orders[order]);
  return (kubectl) => async (args, timeoutSeconds, stdin) => {
    const result = await kubectl(args, timeoutSeconds, stdin);
    if (args[0] === 'create') await waitFor('the reports of k3s-agent-1 and k3s-server', answered);
    return result;
  };
}

function playedNodes(behaviours: Record<string, Behaviour> = {}): Promise<PlayedNode[]> {
  return playNodes(NODES.map((node) => new PlayedNode(node, behaviours[node])));
}

describe('configuration from the constructs', () => {
  test('the namespace, API group, enabled jails, ignoreIp, operator jails and ban times', () => {
    expect(config).toEqual({
      namespace: 'fail2ban',
      group: 'fail2ban.homelab.internal',
      jails: ['sshd', 'k3s-apiserver'],
      // The fixture's ignoreip, then the cluster block's pod and service networks.
      ignoreIp: ['127.0.0.1/8', '::1', '100.64.0.0/10', '10.42.0.0/16', '10.43.0.0/16'],
      mirrors: {},
      operatorJails: { sshd: 'sshd-operator', 'k3s-apiserver': 'k3s-apiserver-operator' },
      banTimes: { sshd: 86400, 'k3s-apiserver': 3600 },
    });
  });

  test('leaves out disabled jails and adds every jail ignoreIp to the defaults', () => {
    const custom = bansSettings({
      ...FIXTURE,
      jails: [
        { name: 'sshd', logPath: hostLog('auth.log'), ignoreIp: ['192.0.2.0/24', '::1'], banTime: 'permanent' },
        { name: 'recidive', logPath: hostLog('fail2ban.log'), enabled: false },
      ],
    });
    expect(custom.jails).toEqual(['sshd']);
    expect(custom.ignoreIp).toEqual(['127.0.0.1/8', '::1', '100.64.0.0/10', '10.42.0.0/16', '10.43.0.0/16', '192.0.2.0/24']);
    expect(custom.banTimes).toEqual({ sshd: -1 });
  });

  test('with ban sharing: the mirror jails', () => {
    const shared = bansSettings({ ...FIXTURE, cluster: { nodeAddresses: ['192.0.2.240/28'] }, banSharing: { kubernetesVersion: '1.31', jails: ['sshd'] } });
    expect(shared.mirrors).toEqual({ sshd: 'sshd-cluster' });
  });

  test('`npm run bans` (the esbuild bundle in dist/app/) runs the same CLI', () => {
    const result = spawnSync(process.execPath, ['scripts/bans.js', '--help'], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('npm run bans -- ban    --jail NAME --ip ADDRESS [--for DURATION] [--reason TEXT]');
  });

  test('writes addresses the way fail2ban lists them', () => {
    expect(normalizeAddress('2001:DB8:0:0::7')).toBe('2001:db8::7');
    expect(normalizeAddress('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(normalizeAddress('203.0.113.9')).toBe('203.0.113.9');
  });
});

describeWithTools(['kubectl', 'openssl'], 'against the stand-in API, with the real kubectl', () => {
  const COLLECTIONS = ['operatorbans', 'fail2bannodes'];

  beforeAll(async () => {
    work = tempDir('bans-test-');
    const certificate = testCertificate(work);
    const cert = certificate.certFile;
    ca = certificate.cert;
    const tokens = {
      [ADMIN]: { username: 'kubernetes-admin', admin: true },
      [MANAGER]: { username: 'github-actions:repo:example-user/homelab:environment:fail2ban-bans', banManager: true },
      ...Object.fromEntries(NODES.map((node) => [nodeToken(node), { username: `system:serviceaccount:${NAMESPACE}:fail2ban`, node }])),
    };
    api = await FakeKubeApi.start({ group: config.group, namespace: NAMESPACE, tokens, tls: { cert: ca, key: certificate.key } });
    // As the workflow writes it: the API server, its CA and a token, nothing else.
    const kubeconfig = path.join(work, 'kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: k3s, cluster: {server: "${api.url}", certificate-authority: "${cert}"}}]`,
        `users: [{name: manage-fail2ban, user: {token: "${MANAGER}"}}]`,
        'contexts: [{name: k3s, context: {cluster: k3s, user: manage-fail2ban}}]',
        'current-context: k3s',
        '',
      ].join('\n'),
    );
    kubeEnv = { ...process.env, KUBECONFIG: kubeconfig };
  });

  beforeEach(() => {
    api?.reset();
    agentFailures = [];
    stopWatches = [];
  });

  afterEach(() => {
    stopWatches.forEach((stop) => stop());
    expect(agentFailures).toEqual([]);
  });

  afterAll(async () => {
    await api?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  describe('validation: nothing reaches the cluster', () => {
    /** Exit 2, the message, and not a single request (not even kubectl's own). */
    async function refused(argv: string[], message: string, options: RunOptions = {}): Promise<void> {
      const run = await bans(argv, options);
      expect(run.err).toContain(message);
      expect(run.err).toContain('Nothing was sent.');
      expect(run.code).toBe(2);
      expect(api.requests).toEqual([]);
    }

    test.each([
      ['a command after the address', '192.0.2.4; reboot'],
      ['a command substitution', '$(id)'],
      ['backticks', '`id`'],
      ['an option', '-h'],
      ['a trailing newline', '203.0.113.5\n'],
      ['a leading space', ' 203.0.113.5'],
      ['a trailing space', '203.0.113.5 '],
      ['two addresses', '203.0.113.5 198.51.100.7'],
      ['an IPv4 range', '203.0.113.0/24'],
      ['an IPv6 range', '2001:db8::/32'],
      ['an IPv6 zone', 'fe80::1%eth0'],
      ['a host name', 'example.com'],
    ])('refuses %s as --ip', async (_what, ip) => {
      await refused(['ban', '--jail', 'sshd', `--ip=${ip}`], 'is not a single IP address (no ranges, host names, spaces or other text): give exactly one IPv4 or IPv6 address');
    });

    test('refuses an empty --ip, and an option given where the address belongs', async () => {
      await refused(['ban', '--jail', 'sshd', '--ip='], '--ip is missing');
      await refused(['unban', '--jail', 'sshd', '--ip', '-h'], 'argument is ambiguous');
    });

    test.each([
      ['0.0.0.0', 'an unspecified address (0.0.0.0/8)'],
      ['255.255.255.255', 'a reserved or broadcast address (240.0.0.0/4)'],
      ['224.0.0.1', 'a multicast address (224.0.0.0/4)'],
      ['169.254.10.20', 'a link-local address (169.254.0.0/16)'],
      ['127.8.9.10', 'a loopback address (127.0.0.0/8)'],
      ['::ffff:127.0.0.1', 'a loopback address (127.0.0.0/8)'],
      ['::', 'an unspecified address (::/128)'],
      ['::1', 'a loopback address (::1/128)'],
      ['fe80::1', 'a link-local address (fe80::/10)'],
      ['ff02::1', 'a multicast address (ff00::/8)'],
    ])('refuses to ban %s: %s, whatever ignoreIp says (agent/never_ban.json)', async (ip, what) => {
      await refused(['ban', '--jail', 'sshd', '--ip', ip], `is ${what}, which no ban may hold`, { config: { ...config, ignoreIp: [] } });
    });

    test.each([
      ['198.51.100.7', '198.51.100.0/24'],
      ['2001:db8:ff::1', '2001:db8:ff::/48'],
    ])('refuses to ban %s, inside ignoreIp %s', async (ip, range) => {
      const custom = { ...config, ignoreIp: [...config.ignoreIp, '198.51.100.0/24', '2001:db8:ff::/48'] };
      await refused(['ban', '--jail', 'sshd', '--ip', ip], `is inside ignoreIp ${range}`, { config: custom });
    });

    test.each(['198.51.100.200', '203.0.113.200', '192.0.2.70'])('refuses to ban %s, inside the cluster block (pods, services, nodes)', async (ip) => {
      const cluster = { podCidr: '198.51.100.128/25', serviceCidr: '203.0.113.128/25', nodeAddresses: ['192.0.2.64/27'] };
      await refused(['ban', '--jail', 'sshd', '--ip', ip], 'is inside ignoreIp', { config: bansSettings({ ...FIXTURE, cluster }) });
    });

    test.each([
      [['ban', '--jail', 'nginx-http-auth', '--ip', '203.0.113.5'], '"nginx-http-auth" is not an enabled jail: use one of the enabled jails: sshd, k3s-apiserver'],
      [['list', '--jail', 'recidive'], '"recidive" is not an enabled jail'],
      [['ban', '--ip', '203.0.113.5'], '--jail is missing'],
      [['ban', '--jail', 'sshd'], '--ip is missing'],
      [['ban', '--jail', 'sshd', '--ip', '203.0.113.5', '--json'], '--json is for list'],
      [['list', '--ip', '203.0.113.5'], '--ip is for ban and unban'],
      [['list', '--for', '1h'], '--for is for ban'],
      [['list', '--reason', 'scan'], '--reason is for ban and unban'],
      [['unban', '--jail', 'sshd', '--ip', '203.0.113.5', '--for', '1h'], '--for is for ban: an unban has no duration'],
      [['list', '--force'], "Unknown option '--force'"],
      [['ban', '--jail', 'sshd', '--ip', '203.0.113.5', 'now'], 'unexpected argument "now"'],
      [[], 'no command'],
      [['reboot'], 'unknown command "reboot"'],
      [['list', '--timeout', '0'], '--timeout "0" is not a whole number of seconds'],
      [['list', '--timeout', '1e3'], '--timeout "1e3" is not a whole number of seconds'],
      [['list', '--namespace=--kubeconfig=/tmp/x'], 'is not a namespace name'],
      [['list', '--namespace', 'Fail2Ban'], 'is not a namespace name'],
    ])('refuses %j', async (argv, message) => {
      await refused(argv, message);
    });

    test.each(['30', '0m', '1y', '30 m', '-5m', '1.5h', '3651d', 'forever', ''])('refuses --for %j', async (duration) => {
      await refused(['ban', '--jail', 'sshd', '--ip', '203.0.113.5', `--for=${duration}`], 'is not a ban time: give a whole number and one unit');
    });

    test.each([
      ['a line break', 'port scan\nrm -rf /', 'contains a control character'],
      ['an escape sequence', '\u001b[31mred', 'contains a control character'],
      ['257 characters', 'é'.repeat(257), '--reason has 257 characters: at most 256'],
      ['nothing', '', '--reason is empty'],
    ])('refuses a --reason with %s', async (_what, reason, message) => {
      await refused(['ban', '--jail', 'sshd', '--ip', '203.0.113.5', `--reason=${reason}`], message);
    });

    test('--help prints the usage', async () => {
      const run = await bans(['--help']);
      expect(run.code).toBe(0);
      expect(api.requests).toEqual([]);
      expect(run.out).toContain('npm run bans -- ban    --jail NAME --ip ADDRESS [--for DURATION] [--reason TEXT]');
    });

    test('a missing kubectl is reported, not thrown', async () => {
      const err: string[] = [];
      const kubectl = execFileKubectl(path.join(work, 'no-kubectl'));
      const code = await runBans(['list'], config, { kubectl, out: () => undefined, err: (t) => err.push(t) });
      expect(code).toBe(1);
      expect(err.join('\n')).toContain('not found: install kubectl or point $KUBECTL at it');
    });
  });


  /** Only `--raw` calls to the two collections, with the kubeconfig's token (kubectl may ask /version first). */
  function expectOnlyOrdersAndReports(run: Run): void {
    for (const sent of run.sent.filter((r) => r.path !== '/version')) {
      expect(COLLECTIONS).toContain(sent.resource);
      expect(sent.token).toBe(MANAGER);
    }
  }

  describe('ban and unban', () => {
    test('ban creates the order with its name and spec, waits until every node reports it, exit 0', async () => {
      await playedNodes();
      const run = await bans(['ban', '--jail', 'sshd', '--ip', '203.0.113.5']);
      expect(run.err).toBe('');
      expect(run.code).toBe(0);
      const order = storedOrder('sshd.v4-203-0-113-5');
      expect(order.spec).toEqual({ jail: 'sshd', ip: '203.0.113.5', action: 'ban', orderedAt: expect.stringMatching(RFC3339_SECONDS), expires: expect.stringMatching(RFC3339_SECONDS) });
      // Without --for: the jail's own ban time (the fixture's sshd: 24 h).
      expect(Date.parse(order.spec.expires) - Date.parse(order.spec.orderedAt)).toBe(86400 * 1000);
      expect(run.sent.filter((r) => r.resource === 'operatorbans').map((r) => `${r.method} ${r.status}`)).toEqual(['GET 404', 'POST 201']);
      expectOnlyOrdersAndReports(run);
      for (const node of NODES) {
        expect(run.out).toMatch(new RegExp(`^${node}\\s+banned$`, 'm'));
      }
      expect(run.out).toContain('Order: OperatorBan fail2ban/sshd.v4-203-0-113-5, generation 1 (created): ban.');
      expect(run.out).toContain(`Done: 203.0.113.5 is banned until ${order.spec.expires} in jail sshd on all 3 nodes (each node's agent reported it).`);
    });

    test.each([
      ['2001:DB8:0:0::5', 'sshd', 'sshd.v6-2001-db8--5', '2001:db8::5'],
      ['2001:db8:1::', 'k3s-apiserver', 'k3s-apiserver.v6-2001-db8-1--0', '2001:db8:1::'],
    ])('an IPv6 address %s is ordered in canonical form, named %s', async (ip, jail, name, canonical) => {
      await playedNodes();
      const run = await bans(['ban', '--jail', jail, '--ip', ip]);
      expect(run.code).toBe(0);
      expect(storedOrder(name).spec).toMatchObject({ jail, ip: canonical, action: 'ban' });
      expect(run.out).toContain(`Done: ${canonical} is banned until`);
    });

    test('a second ban replaces the order: generation 2, --for and --reason, already banned', async () => {
      await playedNodes();
      const first = await bans(['ban', '--jail', 'k3s-apiserver', '--ip', '198.51.100.7', '--for', '30m', '--reason', 'port scan from a "scanner" | twice']);
      expect(first.code).toBe(0);
      const once = storedOrder('k3s-apiserver.v4-198-51-100-7');
      expect(Date.parse(once.spec.expires) - Date.parse(once.spec.orderedAt)).toBe(30 * 60 * 1000);
      expect(once.spec.reason).toBe('port scan from a "scanner" | twice');
      expect(first.out).toContain('(created): ban; reason: "port scan from a \\"scanner\\" | twice".');

      const again = await bans(['ban', '--jail', 'k3s-apiserver', '--ip', '198.51.100.7', '--for', 'permanent']);
      expect(again.code).toBe(0);
      const twice = storedOrder('k3s-apiserver.v4-198-51-100-7');
      expect(twice.metadata.generation).toBe(2);
      expect(twice.spec).toEqual({ jail: 'k3s-apiserver', ip: '198.51.100.7', action: 'ban', orderedAt: expect.stringMatching(RFC3339_SECONDS) });
      const writes = again.sent.filter((r) => r.resource === 'operatorbans' && r.method !== 'GET');
      expect(writes.map((r) => `${r.method} ${r.status}`)).toEqual(['PUT 200']);
      expect((writes[0].body as any).metadata.resourceVersion).toBe(once.metadata.resourceVersion);
      expect(again.out.match(/already banned$/gm)).toHaveLength(3);
      expect(again.out).toContain('generation 2 (replaced): ban.');
      expect(again.out).toContain('Done: 198.51.100.7 is banned permanently in jail k3s-apiserver on all 3 nodes');
    });

    test('a jail whose ban time is permanent orders a permanent ban without --for', async () => {
      await playedNodes();
      const run = await bans(['ban', '--jail', 'sshd', '--ip', '192.0.2.44'], { config: { ...config, banTimes: { ...config.banTimes, sshd: -1 } } });
      expect(run.code).toBe(0);
      expect(storedOrder('sshd.v4-192-0-2-44').spec.expires).toBeUndefined();
    });

    test('unban rewrites the same order to action unban, without expires', async () => {
      await playedNodes();
      expect((await bans(['ban', '--jail', 'sshd', '--ip', '203.0.113.8', '--for', '7d'])).code).toBe(0);
      const run = await bans(['unban', '--jail', 'sshd', '--ip', '203.0.113.8', '--reason', 'false positive']);
      expect(run.code).toBe(0);
      const order = storedOrder('sshd.v4-203-0-113-8');
      expect(order.spec).toEqual({ jail: 'sshd', ip: '203.0.113.8', action: 'unban', orderedAt: expect.stringMatching(RFC3339_SECONDS), reason: 'false positive' });
      expect(order.metadata.generation).toBe(2);
      expect(run.out.match(/ unbanned$/gm)).toHaveLength(3);
      expect(run.out).toContain('Done: 203.0.113.8 is not banned in jail sshd on all 3 nodes');

      const again = await bans(['unban', '--jail', 'sshd', '--ip', '203.0.113.8']);
      expect(again.code).toBe(0);
      expect(again.out.match(/was not banned$/gm)).toHaveLength(3);
    });

    test('unban of an address never ordered creates an unban order, even inside ignoreIp (undoing a wrong ban)', async () => {
      await playedNodes();
      const run = await bans(['unban', '--jail', 'sshd', '--ip', '192.0.2.50'], { config: { ...config, ignoreIp: [...config.ignoreIp, '192.0.2.0/24'] } });
      expect(run.code).toBe(0);
      expect(storedOrder('sshd.v4-192-0-2-50').spec).toMatchObject({ action: 'unban', ip: '192.0.2.50' });
    });

    test('a node that never reports fails the run after --timeout, by name; the others are done', async () => {
      // The stale report of a node whose agent is down: it is still waited for, and named as not reporting.
      const down = new PlayedNode('k3s-agent-2', 'silent');
      down.reportedAt = timestamp(new Date(Date.now() - 10 * 60 * 1000));
      await playNodes([new PlayedNode('k3s-agent-1'), down, new PlayedNode('k3s-server')]);
      const run = await bans(['ban', '--jail', 'sshd', '--ip', '192.0.2.23', '--timeout', '1'], { wrap: answeredBeforeTheWait('sshd.v4-192-0-2-23') });
      expect(run.code).toBe(1);
      expect(run.out).toMatch(/^k3s-agent-1\s+banned$/m);
      expect(run.out).toMatch(/^k3s-agent-2\s+not reported$/m);
      expect(run.out).toContain(
        `k3s-agent-2: has not reported since ${down.reportedAt} (its agent is down or cannot reach the API); did not report within 1 s; it applies the order when it is back.`,
      );
      expect(run.out).toContain('NOT COMPLETE: not reported by k3s-agent-2. 192.0.2.23 is banned until');
      expect(run.out).toContain(' on k3s-agent-1, k3s-server.');
      expect(storedOrder('sshd.v4-192-0-2-23').spec.action).toBe('ban');
    });

    test("a node's entry of a deleted order of the same name and generation is not taken for the new one (uid)", async () => {
      // k3s-agent-2 was down while the order was deleted and created again: its report still shows the old object.
      const down = new PlayedNode('k3s-agent-2', 'silent');
      down.orders['sshd.v4-203-0-113-31'] = { uid: 'uid-of-the-deleted-order', generation: 1, result: 'changed' };
      await playNodes([new PlayedNode('k3s-agent-1'), down, new PlayedNode('k3s-server')]);
      const run = await bans(['unban', '--jail', 'sshd', '--ip', '203.0.113.31', '--timeout', '1'], { wrap: answeredBeforeTheWait('sshd.v4-203-0-113-31') });
      const order = storedOrder('sshd.v4-203-0-113-31');
      expect(order.metadata).toMatchObject({ generation: 1, uid: expect.not.stringMatching(/^uid-of-the-deleted-order$/) });
      expect(run.out).toMatch(/^k3s-agent-1\s+was not banned$/m);
      expect(run.out).toMatch(/^k3s-agent-2\s+not reported$/m);
      expect(run.code).toBe(1);
    });

    test('a node that refuses fails the run with its detail', async () => {
      await playedNodes({ 'k3s-server': { refuse: '203.0.113.9 is in ignoreip 203.0.113.0/24' } });
      const run = await bans(['ban', '--jail', 'sshd', '--ip', '203.0.113.9']);
      expect(run.code).toBe(1);
      expect(run.out).toMatch(/^k3s-server\s+FAILED: 203\.0\.113\.9 is in ignoreip 203\.0\.113\.0\/24$/m);
      expect(run.out).toContain('NOT COMPLETE: refused on k3s-server. 203.0.113.9 is banned until');
    });

    test('a write that races another writer is read again and goes on top of it (409)', async () => {
      await playedNodes();
      expect((await bans(['ban', '--jail', 'sshd', '--ip', '198.51.100.20'])).code).toBe(0);
      const orderPath = api.path('sshd.v4-198-51-100-20', 'operatorbans');
      let raced = false;
      // An administrator edits the order between the CLI's read and its write.
      const wrap = (kubectl: KubectlRunner): KubectlRunner => async (args, timeoutSeconds, stdin) => {
        const result = await kubectl(args, timeoutSeconds, stdin);
        if (!raced && args[0] === 'get' && args[2] === orderPath) {
          raced = true;
          const current = storedOrder('sshd.v4-198-51-100-20');
          expect((await request('PUT', orderPath, ADMIN, { ...current, spec: { ...current.spec, reason: 'edited' } })).status).toBe(200);
        }
        return result;
      };
      const run = await bans(['unban', '--jail', 'sshd', '--ip', '198.51.100.20'], { wrap });
      expect(run.code).toBe(0);
      expect(run.sent.filter((r) => r.resource === 'operatorbans').map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'PUT 409', 'GET 200', 'PUT 200']);
      const order = storedOrder('sshd.v4-198-51-100-20');
      expect(order.spec.action).toBe('unban');
      expect(order.metadata.generation).toBe(3);
      expect(run.out).toContain('generation 3 (replaced): unban.');
    });

    test('without any Fail2banNode, nothing is written and the run fails', async () => {
      const run = await bans(['ban', '--jail', 'sshd', '--ip', '203.0.113.5']);
      expect(run.code).toBe(1);
      expect(run.err).toContain('no Fail2banNode in namespace fail2ban: no node agent has reported');
      expect(run.err).toContain('Nothing was written.');
      expect(api.objectsOf('operatorbans').size).toBe(0);
      expect(run.sent.filter((r) => r.path !== '/version').map((r) => `${r.method} ${r.resource}`)).toEqual(['GET fail2bannodes']);
    });

    test('an API error is reported with the server\'s answer; nothing is written, exit 1', async () => {
      await playedNodes();
      // Not a namespace of the stand-in: the write gets the API's refusal, nothing crashes.
      const run = await bans(['ban', '--jail', 'sshd', '--ip', '203.0.113.5', '--namespace', 'elsewhere']);
      expect(run.code).toBe(1);
      expect(run.err).toContain('kubectl get --raw /apis/fail2ban.homelab.internal/v1/namespaces/elsewhere/fail2bannodes failed (exit 1: Error from server (Forbidden)');
      expect(run.err).toContain('Nothing was written.');
    });
  });

  describe('list', () => {
    test('builds address × node from the reports: own, operator and mirrored bans; all agree', async () => {
      const shared = bansSettings({ ...FIXTURE, cluster: { nodeAddresses: ['192.0.2.240/28'] }, banSharing: { kubernetesVersion: '1.31', jails: ['sshd'] } });
      await playNodes(
        NODES.map((node) =>
          new PlayedNode(node)
            .hold('sshd', node === 'k3s-agent-1' ? ['198.51.100.70'] : [])
            .hold('sshd-cluster', node === 'k3s-agent-1' ? [] : ['198.51.100.70'])
            .hold('sshd-operator', ['2001:db8::5', '203.0.113.5'])
            .hold('k3s-apiserver', [])
            .hold('k3s-apiserver-operator', []),
        ),
      );
      const run = await bans(['list'], { config: shared });
      expect(run.err).toBe('');
      expect(run.code).toBe(0);
      expect(run.sent.filter((r) => r.path !== '/version').map((r) => `${r.method} ${r.resource}`)).toEqual(['GET fail2bannodes']);
      expectOnlyOrdersAndReports(run);
      expect(run.out).toContain('Jail sshd: 3 banned address(es) on 3 node(s)');
      expect(run.out).toMatch(/^Address\s+k3s-agent-1\s+k3s-agent-2\s+k3s-server\s+Missing on$/m);
      expect(run.out).toMatch(/^198\.51\.100\.70\s+✓\s+mirrored\s+mirrored$/m);
      expect(run.out).toMatch(/^203\.0\.113\.5\s+operator\s+operator\s+operator$/m);
      expect(run.out).toMatch(/^2001:db8::5\s+operator\s+operator\s+operator$/m);
      expect(run.out).toContain(
        "✓: banned by that node's own jail sshd; operator: an operator's order (OperatorBan), held in sshd-operator; mirrored: shared by another node, held in sshd-cluster.",
      );
      expect(run.out).toContain('Jail k3s-apiserver: 0 banned address(es) on 3 node(s)\nNo banned addresses.');
      expect(run.out).toContain('All 3 nodes agree.');
    });

    test('disagreement, a capped list, a stale report and an error: terminal, JSON and job summary, exit 1', async () => {
      const summaryFile = path.join(work, 'step-summary-list.md');
      fs.writeFileSync(summaryFile, 'earlier step\n');
      const [agent1, agent2, server] = NODES.map((node) => new PlayedNode(node).hold('k3s-apiserver', []).hold('k3s-apiserver-operator', []).hold('sshd-operator', []));
      agent1.hold('sshd', ['198.51.100.66']);
      agent2.hold('sshd', [], 1500);
      server.hold('sshd', []).hold('sshd-operator', ['198.51.100.66']);
      server.reportedAt = '2026-01-02T03:04:05Z';
      server.error = 'fail2ban is not answering';
      await playNodes([agent1, agent2, server]);

      const text = await bans(['list', '--jail', 'sshd'], { summaryFile });
      expect(text.code).toBe(1);
      expect(text.out).toMatch(/^198\.51\.100\.66\s+✓\s+\?\s+operator$/m);
      expect(text.out).toContain("k3s-agent-2 holds 1500 addresses in sshd; its report lists 0 of them: '?' marks an address that may be among the rest.");
      expect(text.out).toContain('k3s-server has not reported since 2026-01-02T03:04:05Z (its agent is down or cannot reach the API): its lists may be out of date.');
      expect(text.out).toContain('k3s-server reports an error: fail2ban is not answering.');
      expect(text.out).toContain('NOT CONSISTENT: reports out of date or with an error: k3s-server.');
      expect(text.out).not.toContain('Jail k3s-apiserver');

      agent2.hold('sshd', []);
      server.reportedAt = undefined;
      server.error = undefined;
      await Promise.all([agent2.report(), server.report()]);
      const json = await bans(['list', '--json'], { summaryFile });
      expect(json.code).toBe(1);
      expect(JSON.parse(json.out)).toEqual({
        consistent: false,
        namespace: 'fail2ban',
        nodes: NODES,
        gaps: [],
        jails: [
          {
            jail: 'sshd',
            operator: 'sshd-operator',
            addresses: [
              { address: '198.51.100.66', bannedOn: ['k3s-agent-1', 'k3s-server'], missingOn: ['k3s-agent-2'], operatorOn: ['k3s-server'], mirroredOn: [], unknownOn: [] },
            ],
            unreadable: [],
            capped: [],
          },
          { jail: 'k3s-apiserver', operator: 'k3s-apiserver-operator', addresses: [], unreadable: [], capped: [] },
        ],
      });

      const summary = fs.readFileSync(summaryFile, 'utf8');
      expect(summary.startsWith('earlier step\n')).toBe(true);
      expect(summary).toContain(
        '### Jail sshd: 1 banned address(es) on 3 node(s)\n\n' +
          '| Address | k3s-agent-1 | k3s-agent-2 | k3s-server | Missing on |\n| --- | --- | --- | --- | --- |\n' +
          '| 198.51.100.66 | ✓ |  | operator | k3s-agent-2 |',
      );
      expect(summary).toContain('Nodes disagree on 198.51.100.66: banned on k3s-agent-1, k3s-server, not on k3s-agent-2.');
      expect(summary).toContain('NOT CONSISTENT: jails where nodes disagree or a list is missing: sshd.');
    });

    test('a report without a jail\'s list makes that jail unreadable there', async () => {
      const nodes = NODES.map((node) => new PlayedNode(node).hold('sshd', []).hold('sshd-operator', []));
      delete nodes[0].jails['sshd-operator'];
      await playNodes(nodes);
      const run = await bans(['list', '--jail', 'sshd']);
      expect(run.code).toBe(1);
      expect(run.out).toContain('Could not read the ban list of k3s-agent-1: its report has no list of sshd-operator.');
      expect(run.out).toContain('Jail sshd: 0 banned address(es) on the 2 of 3 node(s) that reported it');
    });

    test('without any Fail2banNode the list fails with a clear message', async () => {
      const summaryFile = path.join(work, 'step-summary-empty.md');
      const run = await bans(['list'], { summaryFile });
      expect(run.code).toBe(1);
      expect(run.err).toContain('bans: no Fail2banNode in namespace fail2ban: no node agent has reported');
      expect(fs.readFileSync(summaryFile, 'utf8')).toContain('**bans:** no Fail2banNode in namespace fail2ban');
    });
  });

  test('the job summary gets the ban table, after what was there', async () => {
    await playedNodes();
    const summaryFile = path.join(work, 'step-summary-ban.md');
    fs.writeFileSync(summaryFile, 'earlier step\n');
    const run = await bans(['ban', '--jail', 'sshd', '--ip', '198.51.100.9'], { summaryFile });
    expect(run.code).toBe(0);
    const summary = fs.readFileSync(summaryFile, 'utf8');
    expect(summary.startsWith('earlier step\n')).toBe(true);
    expect(summary).toContain('### fail2ban ban 198.51.100.9 in jail sshd\n\n| Node | Result |\n| --- | --- |\n| k3s-agent-1 | banned |\n');
    expect(summary).toContain('Done: 198.51.100.9 is banned until');
  });
});
