import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Fail2banProps } from '../../src/resolve/props';
import { buildApp } from '../../src/main';
import { renderManifests } from '../../src/outputs/manifests';
import { fixture } from '../fixture';
import { waitFor } from './wait';

/** The folder Flux applies, with the homelab's configuration (the benchmarks run it). */
export const MANIFESTS_DIR = path.join(__dirname, '..', '..', 'k3s', 'manifests', 'fail2ban');

/** What the lab takes from the synthesized manifests. */
export interface SynthesizedConfig {
  /** ConfigMap data: `jail.local` and the filter files. */
  readonly files: Record<string, string>;
  /** Environment of the fail2ban container (TZ, F2B_DB_PURGE_AGE, …). */
  readonly env: Record<string, string>;
  /** The DaemonSet, for what else a test needs from it (init containers, security context). */
  readonly daemonSet: any;
}

/** Reads the ConfigMap data and the container environment from a synthesized manifests folder. */
export function readSynthesized(dir: string = MANIFESTS_DIR): SynthesizedConfig {
  const docs = (file: string) => parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8')).map((d) => d.toJS());
  const configMap = docs('configmap.yaml').find((o) => o.kind === 'ConfigMap');
  const daemonSet = docs('daemonset.yaml').find((o) => o.kind === 'DaemonSet');
  const container = daemonSet.spec.template.spec.containers.find((c: any) => c.name === 'fail2ban');
  const env = Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value]));
  return { files: configMap.data, env, daemonSet };
}

/**
 * The synthesized configuration of the test fixture with some props changed: rendered to manifests, written to a
 * temporary folder and read back like the committed one, so the lab runs YAML, not TypeScript objects.
 */
export function synthesize(changes: Partial<Fail2banProps> = {}): SynthesizedConfig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fail2ban-synth-'));
  try {
    for (const [name, content] of Object.entries(renderManifests(buildApp(fixture(changes)).manifests.toJson()))) {
      fs.writeFileSync(path.join(dir, name), content);
    }
    return readSynthesized(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of {@link Fail2banLab}. */
export interface LabOptions {
  /** Name of the lab's network namespace; also a prefix of its temporary directory. */
  readonly name: string;
  /** The configuration to run: `synthesize(…)` in tests, `readSynthesized()` (the committed one) in benchmarks. */
  readonly config: SynthesizedConfig;
  /** A further `jail.d` file read after `jail.local`, to override settings as a user's own file would. @default none */
  readonly jailOverrides?: string;
  /** Run fail2ban-server with only these capabilities (e.g. `['net_admin', 'net_raw']`) and no new privileges. @default all of root's */
  readonly capabilities?: string[];
}

function run(command: string, args: string[], input?: string): string {
  return execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * A real fail2ban-server running the synthesized configuration, alone in a network namespace of its own.
 *
 * The stock Debian configuration is copied, the ConfigMap's files are laid over it where the image puts them
 * (`jail.d/jail.local`, `filter.d/*.conf`), and the server runs in a private mount namespace in which a temporary
 * directory is bind-mounted at `/var/log/host`, so the log paths of `jail.local` are used unchanged.
 */
export class Fail2banLab {
  /** Starts a lab; {@link destroy} removes everything it made, also after a failure. */
  static async start(options: LabOptions): Promise<Fail2banLab> {
    const lab = new Fail2banLab(options);
    try {
      await lab.startServer();
    } catch (error) {
      lab.destroy();
      throw error;
    }
    return lab;
  }

  public readonly dir: string;
  public readonly netns: string;
  public readonly socket: string;
  /** What the pod has at /var/run/fail2ban: fail2ban's socket. */
  public readonly runDir: string;
  /** Mounted at /var/run/node-agent for fail2ban: the ban-sharing outbox is in it, as the pod mounts it there. */
  public readonly handoffDir: string;
  public readonly logDir: string;
  private readonly confDir: string;
  private readonly env: Record<string, string>;
  private readonly capabilities?: string[];
  private server?: ChildProcess;

  private constructor(options: LabOptions) {
    const config = options.config;
    this.netns = options.name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `${options.name}-`));
    this.confDir = path.join(this.dir, 'etc');
    this.logDir = path.join(this.dir, 'log');
    this.runDir = path.join(this.dir, 'run');
    this.socket = path.join(this.runDir, 'fail2ban.sock');
    fs.mkdirSync(this.runDir);
    this.handoffDir = path.join(this.dir, 'handoff');
    fs.mkdirSync(this.handoffDir, { mode: 0o777 });
    this.env = config.env;
    this.capabilities = options.capabilities;

    fs.cpSync('/etc/fail2ban', this.confDir, { recursive: true });
    for (const local of ['jail.d', 'fail2ban.d']) {
      fs.rmSync(path.join(this.confDir, local), { recursive: true, force: true });
      fs.mkdirSync(path.join(this.confDir, local));
    }
    // Each key goes where the DaemonSet's fail2ban container mounts it: /data/jail.d, /data/filter.d, /data/action.d
    // are linked by the image's entrypoint into /etc/fail2ban.
    const container = config.daemonSet.spec.template.spec.containers.find((c: any) => c.name === 'fail2ban');
    for (const mount of container.volumeMounts.filter((m: any) => m.name === 'config')) {
      const target = path.join(this.confDir, path.posix.relative('/data', mount.mountPath));
      fs.writeFileSync(target, config.files[mount.subPath]);
    }
    if (options.jailOverrides) {
      fs.writeFileSync(path.join(this.confDir, 'jail.d', 'zz-overrides.local'), `${options.jailOverrides}\n`);
    }
    // What the image's entrypoint writes, with the lab's own paths.
    fs.writeFileSync(
      path.join(this.confDir, 'fail2ban.local'),
      [
        '[Definition]',
        `logtarget = ${path.join(this.dir, 'fail2ban.log')}`,
        `socket = ${this.socket}`,
        `pidfile = ${path.join(this.dir, 'fail2ban.pid')}`,
        `dbfile = ${path.join(this.dir, 'fail2ban.sqlite3')}`,
        `dbpurgeage = ${config.env.F2B_DB_PURGE_AGE ?? '1d'}`,
        '',
      ].join('\n'),
    );
    fs.mkdirSync(this.logDir);
    for (const match of config.files['jail.local'].matchAll(/^logpath = \/var\/log\/host\/(\S+)/gm)) {
      fs.mkdirSync(path.dirname(path.join(this.logDir, match[1])), { recursive: true });
      fs.writeFileSync(path.join(this.logDir, match[1]), '');
    }
    run('ip', ['netns', 'add', this.netns]);
    run('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
  }

  /** `fail2ban-client` against this lab's server. */
  client(...args: string[]): string {
    return run('fail2ban-client', ['-s', this.socket, ...args]).trim();
  }

  /** `nft` inside the lab's network namespace. */
  nft(...args: string[]): string {
    return run('ip', ['netns', 'exec', this.netns, 'nft', ...args]);
  }

  /** The addresses in a jail's nftables sets, by family, read with `nft` alone (no Python); empty before the first ban creates them. */
  nftSet(jail: string): { v4: string[]; v6: string[] } {
    const elements = (set: string): string[] => {
      const result = spawnSync('ip', ['netns', 'exec', this.netns, 'nft', '-j', 'list', 'set', 'inet', 'f2b-table', set], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (result.status !== 0) {
        return [];
      }
      const found = JSON.parse(result.stdout).nftables.find((o: any) => o.set)?.set;
      return (found?.elem ?? []).map((e: any) => (typeof e === 'string' ? e : String(e.elem?.val ?? JSON.stringify(e))));
    };
    return { v4: elements(`addr-set-${jail}`), v6: elements(`addr6-set-${jail}`) };
  }

  /** Appends lines to a log file given by its path in the container (`/var/log/host/auth.log`). */
  appendLog(containerPath: string, lines: string[]): void {
    const file = path.join(this.logDir, path.posix.relative('/var/log/host', containerPath));
    fs.appendFileSync(file, lines.map((l) => `${l}\n`).join(''));
  }

  /** The addresses a jail has banned. */
  banned(jail: string): string[] {
    return this.client('get', jail, 'banip').split(/\s+/).filter(Boolean);
  }

  /**
   * How many times the server logged `[JAIL] EVENT IP` (`Ban`, `Unban`, `Restore Ban`). Waiting on the log costs
   * no Python process; the state itself is then read once from the server.
   */
  logged(jail: string, event: 'Ban' | 'Unban' | 'Restore Ban', ip: string): number {
    return this.serverLog().split(`[${jail}] ${event} ${ip}\n`).length - 1;
  }

  /**
   * The addresses a jail's bans in fail2ban's database hold: what a restart restores. fail2ban writes a ban there a
   * moment after it is in nftables, so a test that kills the server waits for this first.
   */
  persisted(jail: string): string[] {
    const query = 'import sqlite3,sys; print("\\n".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select ip from bans where jail=?", (sys.argv[2],))))';
    const result = spawnSync('/usr/bin/python3', ['-c', query, path.join(this.dir, 'fail2ban.sqlite3'), jail], { encoding: 'utf8' });
    return result.status === 0 ? result.stdout.split('\n').filter(Boolean) : [];
  }

  /** How many failures a jail has counted so far. */
  totalFailed(jail: string): number {
    // fail2ban logs each failure it counts ("[sshd] Found ADDRESS"): reading the log costs no Python process.
    return this.serverLog().split(` [${jail}] Found `).length - 1;
  }

  /** The server's log so far, for failure messages. */
  serverLog(): string {
    const file = path.join(this.dir, 'fail2ban.log');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  }

  /** Starts the server (again) on the same configuration, database and logs. */
  async startServer(): Promise<void> {
    // The mounts need CAP_SYS_ADMIN, so the capabilities are dropped only when fail2ban-server is executed.
    const caps = this.capabilities && ['-all', ...this.capabilities.map((c) => `+${c}`)].join(',');
    const dropCaps = caps ? `setpriv --no-new-privs --bounding-set=${caps} --inh-caps=-all --ambient-caps=-all ` : '';
    const script = [
      'mount -t tmpfs lab /var/log && mkdir /var/log/host && mount --bind "$1" /var/log/host',
      'mount -t tmpfs lab /run && mkdir /run/fail2ban /run/node-agent && mount --bind "$3" /run/fail2ban && mount --bind "$4" /run/node-agent',
      `exec ${dropCaps}fail2ban-server -f -x -c "$2" start`,
    ].join(' && ');
    const args = ['netns', 'exec', this.netns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', this.logDir, this.confDir, this.runDir, this.handoffDir];
    const server = spawn('ip', args, {
      env: { PATH: process.env.PATH, TZ: this.env.TZ ?? 'UTC' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.server = server;
    let stderr = '';
    server.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    let exited = false;
    server.once('exit', () => {
      exited = true;
    });
    await waitFor('fail2ban-server to answer ping', () => {
      if (exited) {
        throw new Error(`fail2ban-server exited during start:\n${stderr}\n${this.serverLog()}`);
      }
      try {
        return this.client('ping').includes('pong');
      } catch {
        return false;
      }
    });
  }

  /** The server's process id, while it runs. */
  get pid(): number | undefined {
    const server = this.server;
    return server && server.exitCode === null && server.signalCode === null ? server.pid : undefined;
  }

  /** Runs a shell script inside the lab's network namespace, as an init container on the node would. */
  runInNamespace(script: string): string {
    return run('ip', ['netns', 'exec', this.netns, 'sh', '-c', script]);
  }

  /** A clean stop, as on SIGTERM: fail2ban runs its actions' stop commands. */
  async stopServer(): Promise<void> {
    const server = this.server;
    if (!server || server.exitCode !== null || server.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => server.once('exit', resolve));
    this.client('stop');
    await exited;
  }

  /** Kills the server without letting it clean up, as an OOM kill or an exceeded grace period does. */
  async killServer(): Promise<void> {
    const server = this.server;
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
  }

  /** Kills the server if still running, removes the namespace and the temporary directory. */
  destroy(): void {
    if (this.server && this.server.exitCode === null && this.server.signalCode === null) {
      this.server.kill('SIGKILL');
    }
    try {
      run('ip', ['netns', 'del', this.netns]);
    } catch {
      // Already gone.
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A `Failed password` line as sshd writes it to auth.log. sshd forks a process per connection, and fail2ban's sshd
 * filter groups lines by PID: each attempt needs its own `pid`. Users other than root are unknown to the host.
 */
export function sshdFailedPassword(time: string, host: string, pid: number, address: string, port: number, user = 'root'): string {
  const who = user === 'root' ? user : `invalid user ${user}`;
  return `${time} ${host} sshd[${pid}]: Failed password for ${who} from ${address} port ${port} ssh2`;
}

/** A syslog timestamp (`Nov 26 09:00:07`) of now in the given zone, as rsyslog writes it. */
export function syslogTime(timeZone: string, date = new Date()): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.month} ${parts.day.padStart(2, ' ')} ${parts.hour}:${parts.minute}:${parts.second}`;
}
