import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Fail2banProps } from '../../src/resolve/props';
import { FIXTURE_SSHD } from '../fixture';
import { FakeKubeApi } from './fake-kube-api';
import { Fail2banLab, SynthesizedConfig, sshdFailedPassword, synthesize, syslogTime } from './lab';
import { TestCertificate, testCertificate } from './tls';
import { waitFor } from './wait';

/** The lab's nodes, named like a small k3s cluster's. */
export const NODE_NAMES = ['k3s-server', 'k3s-agent-1', 'k3s-agent-2'] as const;
export type NodeName = (typeof NODE_NAMES)[number];

/** The ServiceAccount the agents' tokens belong to. */
export const SERVICE_ACCOUNT = 'system:serviceaccount:fail2ban:fail2ban';

/** The lab's changes to the test fixture: ban sharing of sshd; the cluster block (never banned) is 192.0.2.240/28. */
export const SHARING_PROPS: Partial<Fail2banProps> = { cluster: { nodeAddresses: ['192.0.2.240/28'] }, banSharing: { kubernetesVersion: '1.31', jails: ['sshd'] } };

/** The test fixture with {@link SHARING_PROPS}, synthesized. */
export function sharingConfig(): SynthesizedConfig {
  return synthesize(SHARING_PROPS);
}

/** A change of the nftables ruleset, as `nft monitor` reported it, with when the lab saw it. */
export interface NftEvent {
  readonly at: number;
  readonly line: string;
}

let sshdPid = 20_000;

/** One node: a real fail2ban-server in its own network namespace, its agent, and `nft monitor` there. */
export class SharingNode {
  lab?: Fail2banLab;
  /** What `nft monitor` reported in this node's namespace (add/delete element lines), in order. */
  readonly nftEvents: NftEvent[] = [];
  private agent?: ChildProcess;
  private broker?: ChildProcess;
  private monitor?: ChildProcess;
  private output = '';
  private readonly tokenFile: string;
  readonly statusFile: string;
  /** The agent's STATE_FILE: in the node's directory, so that it outlives the agent as the hostPath does. */
  readonly stateFile: string;
  /** Where the agent serves its metrics in the lab (127.0.0.1: the lab's agents share the host's network), if it does. */
  metricsPort?: number;

  /**
   * @param env the `node-agent` container's environment from the DaemonSet
   * @param brokerEnv the `ban-broker` container's environment from the DaemonSet
   * @param agentHome the folder holding the agent's package from the ConfigMap (`agent/…`), as the pod mounts it
   */
  constructor(
    readonly name: NodeName,
    readonly token: string,
    private readonly dir: string,
    private readonly env: Record<string, string>,
    private readonly brokerEnv: Record<string, string>,
    private readonly agentHome: string,
    private readonly apiUrl: string,
    ca: string,
  ) {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'ca.crt'), ca);
    this.tokenFile = path.join(dir, 'token');
    this.statusFile = path.join(dir, 'ban-sharing.status');
    this.stateFile = path.join(dir, 'ban-sharing-state.json');
    fs.writeFileSync(this.tokenFile, `${token}\n`, { mode: 0o600 });
  }

  /** The broker's socket: in the node's directory, as in the pod's hand-off directory. */
  get brokerSocket(): string {
    return path.join(this.dir, 'broker.sock');
  }

  /** The synthesized environment with what differs in the lab: node, API, token, broker, outbox, status and state files. */
  agentEnv(): Record<string, string> {
    return {
      PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
      ...this.env,
      NODE_NAME: this.name,
      KUBERNETES_API: this.apiUrl,
      TOKEN_FILE: this.tokenFile,
      CA_FILE: path.join(this.dir, 'ca.crt'),
      BROKER_SOCKET: this.brokerSocket,
      STATUS_FILE: this.statusFile,
      // Ban sharing's, when it is on.
      ...(this.env.OUTBOX && { OUTBOX: path.join(this.server.handoffDir, 'outbox') }),
      ...(this.env.STATE_FILE && { STATE_FILE: this.stateFile }),
      // Metrics, when on: the pod's address comes from the downward API, which the lab has not.
      ...(this.metricsPort && { METRICS_ADDRESS: '127.0.0.1', METRICS_PORT: String(this.metricsPort) }),
    };
  }

  /** Starts the broker (once) as the pod runs it, between the agent and this node's fail2ban socket. */
  async startBroker(): Promise<void> {
    if (this.broker && this.broker.exitCode === null && this.broker.signalCode === null) return;
    fs.rmSync(this.brokerSocket, { force: true });
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...this.brokerEnv, F2B_SOCKET: this.server.socket, BROKER_SOCKET: this.brokerSocket };
    const [command, args] = this.inPodLogMount(this.brokerEnv.POD_LOGS, 'agent.broker');
    const broker = spawn(command, args, { cwd: this.agentHome, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.broker = broker;
    for (const stream of [broker.stdout!, broker.stderr!]) stream.on('data', (chunk) => this.record(`broker: ${String(chunk).trimEnd()}`));
    await waitFor(`${this.name}'s broker to listen`, () => {
      if (broker.exitCode !== null || broker.signalCode !== null) throw new Error(`${this.name}'s broker exited:\n${this.output}`);
      return fs.existsSync(this.brokerSocket);
    });
  }

  get server(): Fail2banLab {
    if (!this.lab) throw new Error(`${this.name}: fail2ban was not started`);
    return this.lab;
  }

  /** Starts `nft monitor` in the node's namespace: exact times of every element added or deleted. */
  startMonitor(): void {
    const monitor = spawn('ip', ['netns', 'exec', this.server.netns, 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.monitor = monitor;
    let rest = '';
    monitor.stdout!.on('data', (chunk) => {
      const at = Date.now();
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines.filter((l) => / element /.test(l))) this.nftEvents.push({ at, line });
    });
  }

  /** Starts the agent and waits until it has listed the records (it touches its status file then); its state file stays. */
  async startAgent(): Promise<void> {
    await this.startBroker();
    if (this.env.METRICS_PORT && !this.metricsPort) this.metricsPort = await freePort();
    fs.rmSync(this.statusFile, { force: true });
    // As the pod runs it: `python3 -m agent` in the folder the ConfigMap's items are mounted in; with pod-log jails,
    // in a mount namespace of its own that has the node's pod logs where the pod mounts them (POD_LOGS' dir).
    const [command, args] = this.inPodLogMount(this.env.POD_LOGS, 'agent');
    const agent = spawn(command, args, { cwd: this.agentHome, env: this.agentEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.agent = agent;
    this.record('--- agent started');
    for (const stream of [agent.stdout!, agent.stderr!]) {
      let rest = '';
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        lines.forEach((line) => this.record(line));
      });
      stream.on('end', () => rest && this.record(rest));
    }
    agent.once('exit', (code, signal) => this.record(`--- agent exited (${code ?? signal})`));
    await waitFor(`${this.name}'s agent to list the records`, () => {
      if (agent.exitCode !== null || agent.signalCode !== null) throw new Error(`${this.name}'s agent exited:\n${this.output}`);
      return fs.existsSync(this.statusFile);
    });
  }

  /** The agent's process id while it runs (the benchmarks read its CPU time). */
  get agentPid(): number | undefined {
    const agent = this.agent;
    return agent && agent.exitCode === null && agent.signalCode === null ? agent.pid : undefined;
  }

  /** The node's `pods` folder of its host logs, the kubelet's /var/log/pods. */
  get podLogsDir(): string {
    return path.join(this.server.logDir, 'pods');
  }

  /**
   * `python3 -m MODULE` (the agent, the broker); with pod-log jails (POD_LOGS), in a mount namespace of its own with
   * the lab's pods folder bind-mounted read-only at POD_LOGS' dir, as the pod mounts the kubelet's /var/log/pods.
   */
  private inPodLogMount(podLogs: string | undefined, module: string): [string, string[]] {
    if (!podLogs) return ['/usr/bin/python3', ['-m', module]];
    fs.mkdirSync(this.podLogsDir, { recursive: true });
    const script = 'mount -t tmpfs lab "$(dirname "$(dirname "$1")")" && mkdir -p "$1" && mount --bind -o ro "$2" "$1" && exec /usr/bin/python3 -m "$3"';
    return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', JSON.parse(podLogs).dir, this.podLogsDir, module]];
  }

  /** SIGTERM, as when the pod stops; SIGKILL after 5 s. */
  async stopAgent(): Promise<void> {
    const agent = this.agent;
    if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    agent.kill('SIGTERM');
    const timer = setTimeout(() => agent.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** A line of the agent's log, with the time the lab read it. */
  private record(line: string): void {
    this.output += `${new Date().toISOString().slice(11, 23)} ${line}\n`;
  }

  /** Everything the agent wrote so far (stdout and stderr, over every start), each line with when it was read. */
  agentLog(): string {
    return this.output;
  }

  /** The addresses in nftables for a jail, both families. */
  nftSet(jail: string): string[] {
    const { v4, v6 } = this.server.nftSet(jail);
    return [...v4, ...v6];
  }

  /** When `nft monitor` first saw `ip` added to (or deleted from) a jail's set after `since`; undefined if not yet. */
  nftEventAt(op: 'add' | 'delete', jail: string, ip: string, since = 0): number | undefined {
    const set = new RegExp(`^${op} element inet f2b-table addr6?-set-${jail} \\{.*[ ,]${ip.replace(/\./g, '\\.')}[ ,]`);
    return this.nftEvents.find((e) => e.at >= since && set.test(e.line))?.at;
  }

  /** sshd failure lines from `ip` as auth.log has them, one sshd process each (the filter merges lines of one PID). */
  sshdFailureLines(ip: string, count = FIXTURE_SSHD.maxRetry!): string[] {
    const time = syslogTime(this.env.TZ ?? 'UTC');
    return Array.from({ length: count }, () => sshdFailedPassword(time, this.name, ++sshdPid, ip, 40000 + (sshdPid % 20000)));
  }

  /** Appends enough sshd failures from `ip` to auth.log for a ban (the fixture's maxretry). */
  sshdFailures(ip: string, count = FIXTURE_SSHD.maxRetry!): void {
    this.server.appendLog('/var/log/host/auth.log', this.sshdFailureLines(ip, count));
  }

  /** Kills what runs (agent, monitor, fail2ban-server) and removes the namespace; safe at any point. */
  destroy(): void {
    for (const child of [this.agent, this.broker, this.monitor]) {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.lab?.destroy();
  }
}

/**
 * Three nodes sharing bans through a stand-in for the Kubernetes API: each a real fail2ban-server running the
 * synthesized configuration in its own network namespace, and the synthesized agent program with the
 * synthesized environment, remapped to the lab (API URL, token, socket, outbox, status file).
 */
export class SharingLab {
  static async start(config: SynthesizedConfig = sharingConfig()): Promise<SharingLab> {
    const lab = new SharingLab();
    try {
      await lab.startAll(config);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  api?: FakeKubeApi;
  /** The API's certificate, which each agent trusts as its cluster CA. */
  private certificate?: TestCertificate;
  readonly nodes: SharingNode[] = [];
  /** Not bound to a node: an administrator's token. */
  readonly adminToken = randomBytes(16).toString('hex');
  /** The "Manage Fail2ban" workflow's token: operator bans and the nodes' reports, nothing else. */
  readonly managerToken = randomBytes(16).toString('hex');
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ban-sharing-lab-'));

  private constructor() {}

  node(name: NodeName): SharingNode {
    return this.nodes.find((n) => n.name === name)!;
  }

  get kube(): FakeKubeApi {
    if (!this.api) throw new Error('the API stand-in was not started');
    return this.api;
  }

  /** A kubeconfig for kubectl that reaches the stand-in API as the ban manager. */
  managerKubeconfig(): string {
    const file = path.join(this.dir, 'kubeconfig');
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'lab', cluster: { server: this.kube.url, 'certificate-authority': this.certificate!.certFile } }],
      users: [{ name: 'ban-manager', user: { token: this.managerToken } }],
      contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'ban-manager' } }],
      'current-context': 'lab',
    };
    fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }

  /** The agents' logs, each line prefixed with its node, for failure messages. */
  logs(): string {
    return this.nodes.map((n) => n.agentLog().replace(/^/gm, `${n.name}: `)).join('\n');
  }

  private async startAll(config: SynthesizedConfig): Promise<void> {
    const pod = config.daemonSet.spec.template.spec;
    const envOf = (name: string): Record<string, string> => {
      const container = pod.containers.find((c: any) => c.name === name);
      if (!container) throw new Error(`the DaemonSet has no ${name} container`);
      return Object.fromEntries(container.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
    };
    const [env, brokerEnv] = [envOf('node-agent'), envOf('ban-broker')];
    // The lab moves these files to each node's directory; the synthesized containers must have them.
    for (const [name, value] of Object.entries({ STATUS_FILE: env.STATUS_FILE, BROKER_SOCKET: env.BROKER_SOCKET, 'BROKER_SOCKET of the broker': brokerEnv.BROKER_SOCKET })) {
      if (!value) throw new Error(`the pod's containers have no ${name} in their environment`);
    }
    // The ConfigMap's items, laid out where the agent's volume mounts them.
    const agentHome = path.join(this.dir, 'node-agent');
    for (const item of pod.volumes.find((v: any) => v.name === 'node-agent').configMap.items) {
      fs.mkdirSync(path.dirname(path.join(agentHome, item.path)), { recursive: true });
      fs.writeFileSync(path.join(agentHome, item.path), config.files[item.key]);
    }

    const tokens = Object.fromEntries(NODE_NAMES.map((name) => [name, randomBytes(16).toString('hex')]));
    this.certificate = testCertificate(this.dir);
    this.api = await FakeKubeApi.start({
      tls: { cert: this.certificate.cert, key: this.certificate.key },
      group: env.BAN_GROUP,
      namespace: env.NAMESPACE,
      tokens: {
        [this.adminToken]: { username: 'kubernetes-admin', admin: true },
        [this.managerToken]: { username: 'ban-manager', banManager: true },
        ...Object.fromEntries(NODE_NAMES.map((name) => [tokens[name], { username: SERVICE_ACCOUNT, node: name }])),
      },
    });
    for (const name of NODE_NAMES) {
      this.nodes.push(new SharingNode(name, tokens[name], path.join(this.dir, name), env, brokerEnv, agentHome, this.api.url, this.certificate.cert));
    }
    // The three fail2ban-servers start at once; every start is awaited before a failure is thrown, so that
    // destroy() finds each lab that did start.
    const suffix = `${process.pid % 100_000}`;
    await settled(
      this.nodes.map(async (node) => {
        node.lab = await Fail2banLab.start({ name: `f2bs${suffix}-${node.name.replace('k3s-', '')}`, config });
        node.startMonitor();
      }),
    );
    await settled(this.nodes.map((node) => node.startAgent()));
  }

  /** Stops every process this lab started, removes the namespaces and temporary files; safe after a partial start. */
  async destroy(): Promise<void> {
    for (const node of this.nodes) node.destroy();
    await this.api?.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A port nothing listens on now, on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Like Promise.all, but waits for every promise before throwing the first failure. */
async function settled(promises: Array<Promise<unknown>>): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
