import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HANG_MS } from './harness/wait';

/** A jail to run: its name and the filter it uses (a stock one, or one from the package's `filters/`). */
export interface ServerJail {
  readonly name: string;
  readonly filter?: string;
}

/** What fail2ban-client printed and how it exited. */
export interface ClientResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const STOCK_CONFIG = '/etc/fail2ban';
/** A hang detector, not a speed limit. */
const READY_TIMEOUT_MS = HANG_MS;
const STOP_TIMEOUT_MS = 5_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function runClient(configDir: string, args: string[]): Promise<ClientResult> {
  return new Promise((resolve) => {
    execFile('fail2ban-client', ['-c', configDir, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

/**
 * One node's fail2ban: the stock configuration with only our jails, the `dummy` action (bans are bookkeeping, no
 * firewall is touched), an in-memory database, and socket, pid file and logs of its own.
 */
function writeConfig(dir: string, jails: readonly ServerJail[], filtersDir: string): string {
  const conf = path.join(dir, 'conf');
  fs.cpSync(STOCK_CONFIG, conf, { recursive: true });
  // Debian's jail.d enables sshd on the system's own log; only our jail.local may decide.
  fs.rmSync(path.join(conf, 'jail.d'), { recursive: true });
  fs.mkdirSync(path.join(conf, 'jail.d'));
  for (const file of fs.readdirSync(filtersDir).filter((name) => name.endsWith('.conf'))) {
    fs.copyFileSync(path.join(filtersDir, file), path.join(conf, 'filter.d', file));
  }
  fs.writeFileSync(
    path.join(conf, 'fail2ban.local'),
    [
      '[Definition]',
      `socket = ${path.join(dir, 'fail2ban.sock')}`,
      `pidfile = ${path.join(dir, 'fail2ban.pid')}`,
      `logtarget = ${path.join(dir, 'fail2ban.log')}`,
      'dbfile = :memory:',
      'allowipv6 = auto',
      '',
    ].join('\n'),
  );
  const sections = jails.flatMap((jail) => {
    const logPath = path.join(dir, `${jail.name}.log`);
    fs.writeFileSync(logPath, '');
    return [`[${jail.name}]`, 'enabled = true', `filter = ${jail.filter ?? jail.name}`, `logpath = ${logPath}`, ''];
  });
  const defaults = ['[DEFAULT]', 'backend = polling', `action = dummy[target="${path.join(dir, 'dummy-action')}"]`, ''];
  fs.writeFileSync(path.join(conf, 'jail.d', 'jail.local'), [...defaults, ...sections].join('\n'));
  return conf;
}

/** One real fail2ban-server per node name, each in `<root>/<node>/conf`: the layout the stand-in kubectl expects. */
export class Fail2banServers {
  /** Starts the servers and resolves once each one runs every jail. */
  public static async start(nodes: readonly string[], jails: readonly ServerJail[], filtersDir: string): Promise<Fail2banServers> {
    const servers = new Fail2banServers(fs.mkdtempSync(path.join(os.tmpdir(), 'bans-servers-')), jails);
    try {
      await Promise.all(nodes.map((node) => servers.startOne(node, filtersDir)));
    } catch (error) {
      await servers.stop();
      throw error;
    }
    return servers;
  }

  private readonly processes = new Map<string, ChildProcess>();

  private constructor(
    /** Holds one directory per node. */
    public readonly root: string,
    private readonly jails: readonly ServerJail[],
  ) {}

  private configDir(node: string): string {
    return path.join(this.root, node, 'conf');
  }

  private async startOne(node: string, filtersDir: string): Promise<void> {
    const dir = path.join(this.root, node);
    fs.mkdirSync(dir);
    const conf = writeConfig(dir, this.jails, filtersDir);
    const server = spawn('fail2ban-server', ['-f', '-x', '-c', conf, 'start'], { stdio: 'ignore' });
    this.processes.set(node, server);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (server.exitCode !== null) {
        throw new Error(`fail2ban-server for ${node} exited with ${server.exitCode}: ${this.log(node)}`);
      }
      // Each status call is a Python start-up: ask only once the socket exists.
      if (fs.existsSync(path.join(dir, 'fail2ban.sock'))) {
        const status = await this.client(node, 'status');
        if (status.code === 0 && this.jails.every((jail) => status.stdout.includes(jail.name))) {
          return;
        }
      }
      await sleep(50);
    }
    throw new Error(`fail2ban-server for ${node} did not start its jails after ${READY_TIMEOUT_MS / 1000} s (a hang detector): ${this.log(node)}`);
  }

  private log(node: string): string {
    const file = path.join(this.root, node, 'fail2ban.log');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').slice(-2000) : '(no log)';
  }

  /** `fail2ban-client ARGS` against one node's server, bypassing the CLI and the stand-in kubectl. */
  public client(node: string, ...args: string[]): Promise<ClientResult> {
    return runClient(this.configDir(node), args);
  }

  /** The addresses one node's jail bans, straight from its server. */
  public async banned(node: string, jail: string): Promise<string[]> {
    const result = await this.client(node, 'get', jail, 'banip');
    if (result.code !== 0) {
      throw new Error(`get ${jail} banip on ${node} failed: ${result.stdout}${result.stderr}`);
    }
    return result.stdout.split(/\s+/).filter(Boolean);
  }

  /** Forgets every ban on every node, so that each test starts clean. */
  public async unbanAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map((node) => this.client(node, 'unban', '--all')));
  }

  /** Stops every server (`fail2ban-client stop` is the quickest clean stop; SIGKILL if it hangs) and removes their directories. */
  public async stop(): Promise<void> {
    await Promise.all([...this.processes].map(([node, server]) => this.stopOne(node, server)));
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  private async stopOne(node: string, server: ChildProcess): Promise<void> {
    if (server.exitCode !== null || server.signalCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    const timer = setTimeout(() => server.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.client(node, 'stop');
    await exited;
    clearTimeout(timer);
  }
}
