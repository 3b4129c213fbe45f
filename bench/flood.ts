// `npm run bench:flood` (`node scripts/bench.js flood`): a log flood against the real fail2ban-server running the
// committed configuration in a network namespace (root needed). 100 000 sshd failures from 10 000 addresses, 10 each,
// are appended to auth.log in large chunks; the benchmark measures how fast fail2ban counts them, how long until
// every address is in the nftables sets, the server's peak memory, and that it survived.
//
// Environment: FLOOD_ADDRESSES (default 10000), FLOOD_LINES_PER_ADDRESS (default 10), FLOOD_CHUNK_LINES (lines per
// append, default 10000), FLOOD_TIMEOUT_S (give up after, default 600), FLOOD_JAIL_OVERRIDES (a jail.d file read after
// jail.local, e.g. "[sshd]\nmaxmatches = 1"; \n is a line break; default none).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fail2banLab, readSynthesized, sshdFailedPassword, syslogTime } from '../test/harness/lab';
import { waitFor } from '../test/harness/wait';

const AUTH_LOG = '/var/log/host/auth.log';

/** The three IPv4 documentation ranges (RFC 5737); 254 usable hosts each. */
const IPV4_DOC_PREFIXES = ['192.0.2', '198.51.100', '203.0.113'];

/**
 * `count` distinct documentation addresses: a tenth IPv4 (at most the 762 hosts of RFC 5737's three /24s, spread over
 * them), the rest IPv6 from 2001:db8:f100::/48 (RFC 3849), in the canonical form fail2ban and nft print. Deterministically
 * shuffled, so that IPv4 and IPv6 addresses are interleaved as in a real distributed attack.
 */
export function floodAddresses(count: number): string[] {
  const v4 = Math.min(IPV4_DOC_PREFIXES.length * 254, Math.floor(count / 10));
  const addresses: string[] = [];
  for (let i = 0; i < v4; i++) {
    addresses.push(`${IPV4_DOC_PREFIXES[i % 3]}.${Math.floor(i / 3) + 1}`);
  }
  for (let i = 1; addresses.length < count; i++) {
    addresses.push(`2001:db8:f100::${i.toString(16)}`);
  }
  // Fisher-Yates with a fixed linear congruential generator: the same order on every run.
  let seed = 0x2f6e2b1;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let i = addresses.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [addresses[i], addresses[j]] = [addresses[j], addresses[i]];
  }
  return addresses;
}

const USERS = ['admin', 'root', 'ubuntu', 'test', 'oracle', 'pi', 'git', 'postgres'];

/**
 * The flood as auth.log chunks: `perAddress` rounds, each with one failure of every address (a botnet's pace: an
 * address reaches maxretry only after all others had their earlier tries). Each line is its own sshd process (PID),
 * as sshd forks per connection; fail2ban's sshd filter groups lines by PID, so a shared PID would merge attempts.
 */
export function* floodChunks(addresses: string[], perAddress: number, chunkLines: number, timeZone: string, firstPid = 10_000): Generator<string> {
  let lines: string[] = [];
  let time = syslogTime(timeZone);
  let n = 0;
  for (let round = 0; round < perAddress; round++) {
    for (const address of addresses) {
      lines.push(`${sshdFailedPassword(time, 'k3s-node-1', firstPid + n, address, 1024 + ((n * 7919) % 64000), USERS[n % USERS.length])}\n`);
      n++;
      if (lines.length === chunkLines) {
        yield lines.join('');
        lines = [];
        time = syslogTime(timeZone);
      }
    }
  }
  if (lines.length > 0) {
    yield lines.join('');
  }
}

/** The pid of the lab's fail2ban-server, from its pidfile. */
export function serverPid(lab: Fail2banLab): number {
  return Number(fs.readFileSync(path.join(lab.dir, 'fail2ban.pid'), 'utf8').trim());
}

/** VmRSS and VmHWM (peak RSS) of a process, in KiB. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Milliseconds since the epoch of a fail2ban log line (`2026-11-26 09:00:07,123 …`), written in UTC. */
function logTime(line: string): number {
  const stamp = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})/.exec(line);
  return stamp ? Date.parse(`${stamp[1]}T${stamp[2]}.${stamp[3]}Z`) : NaN;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const seconds = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

interface Sample {
  t: number;
  failed?: number;
  banned: number;
  rss: number;
  clientMs?: number;
}

async function main(): Promise<void> {
  const addressCount = Number(process.env.FLOOD_ADDRESSES ?? 10_000);
  const perAddress = Number(process.env.FLOOD_LINES_PER_ADDRESS ?? 10);
  const chunkLines = Number(process.env.FLOOD_CHUNK_LINES ?? 10_000);
  const timeoutMs = Number(process.env.FLOOD_TIMEOUT_S ?? 600) * 1000;
  const totalLines = addressCount * perAddress;

  const config = readSynthesized();
  const timeZone = config.env.TZ ?? 'UTC';
  if (timeZone !== 'UTC') {
    throw new Error(`the benchmark reads fail2ban's log times as UTC, but the container's TZ is ${timeZone}`);
  }
  const addresses = floodAddresses(addressCount);
  const v4Count = addresses.filter((a) => !a.includes(':')).length;

  const jailOverrides = process.env.FLOOD_JAIL_OVERRIDES?.replace(/\\n/g, '\n');
  const lab = await Fail2banLab.start({ name: 'f2b-flood', config, jailOverrides });
  const samples: Sample[] = [];
  const problems: string[] = [];
  let appendMs = 0;
  let allCountedAt: number | undefined;
  let allBannedAt: number | undefined;
  let firstBanAt: number | undefined;
  let final: { v4: string[]; v6: string[]; banip: string[]; ping: string; idle: { rss: number; hwm: number }; end: { rss: number; hwm: number } } | undefined;
  let timedOut = false;
  let log = '';
  let start = 0;
  try {
    const pid = serverPid(lab);
    // The server answers ping before its jails run: wait for the sshd jail, then until RSS holds still for a second.
    await waitFor('the sshd jail', () => {
      try {
        return lab.client('status', 'sshd').includes('Total failed');
      } catch {
        return false;
      }
    });
    let idle = memoryOf(pid);
    for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
      await sleep(1000);
      const now = memoryOf(pid);
      if (now.rss === idle.rss) break;
      idle = now;
    }
    console.log(`fail2ban-server pid ${pid}, idle RSS ${mib(idle.rss)}; flooding ${totalLines} lines from ${addressCount} addresses (${v4Count} IPv4, ${addressCount - v4Count} IPv6), ${chunkLines} lines per append`);

    const authLog = path.join(lab.logDir, path.posix.relative('/var/log/host', AUTH_LOG));
    start = Date.now();
    for (const chunk of floodChunks(addresses, perAddress, chunkLines, timeZone)) {
      fs.appendFileSync(authLog, chunk);
    }
    appendMs = Date.now() - start;

    // Poll: nft (cheap) every 500 ms; fail2ban-client (a python process, ~150 ms of CPU) every second.
    let lastMemory = idle;
    let lastClient = -Infinity;
    let lastReport = 0;
    for (;;) {
      const t = Date.now() - start;
      if (!fs.existsSync(`/proc/${pid}`)) {
        problems.push(`fail2ban-server (pid ${pid}) exited during the flood, ${seconds(t)} after the first append`);
        break;
      }
      lastMemory = memoryOf(pid);
      const sets = lab.nftSet('sshd');
      const banned = sets.v4.length + sets.v6.length;
      const sample: Sample = { t, banned, rss: lastMemory.rss };
      if (t - lastClient >= 1000 && allCountedAt === undefined) {
        lastClient = t;
        const before = Date.now();
        try {
          sample.failed = lab.totalFailed('sshd');
          sample.clientMs = Date.now() - before;
        } catch (error) {
          problems.push(`fail2ban-client status sshd failed at ${seconds(t)}: ${(error as Error).message.split('\n')[0]}`);
        }
        if (sample.failed !== undefined && sample.failed >= totalLines) {
          allCountedAt = t;
        }
      }
      samples.push(sample);
      if (banned > 0 && firstBanAt === undefined) {
        firstBanAt = t;
      }
      if (banned >= addressCount && allBannedAt === undefined) {
        allBannedAt = t;
      }
      if (t - lastReport >= 10_000) {
        lastReport = t;
        const failed = [...samples].reverse().find((s) => s.failed !== undefined)?.failed;
        console.log(`  ${seconds(t).padStart(7)}: counted ${failed ?? '?'} / ${totalLines}, in nftables ${banned} / ${addressCount}, RSS ${mib(sample.rss)}`);
      }
      if (allCountedAt !== undefined && allBannedAt !== undefined) {
        break;
      }
      if (t > timeoutMs) {
        timedOut = true;
        problems.push(`gave up after ${seconds(timeoutMs)}: ${allCountedAt === undefined ? 'not every line counted' : ''}${allCountedAt === undefined && allBannedAt === undefined ? ', ' : ''}${allBannedAt === undefined ? `${banned} of ${addressCount} addresses in nftables` : ''}`);
        break;
      }
      await sleep(500);
    }

    const sets = lab.nftSet('sshd');
    let ping = '';
    try {
      ping = lab.client('ping');
    } catch (error) {
      ping = `no answer: ${(error as Error).message.split('\n')[0]}`;
    }
    let banip: string[] = [];
    try {
      banip = lab.banned('sshd');
    } catch (error) {
      problems.push(`fail2ban-client get sshd banip failed: ${(error as Error).message.split('\n')[0]}`);
    }
    final = { ...sets, banip, ping, idle, end: fs.existsSync(`/proc/${pid}`) ? memoryOf(pid) : lastMemory };
    log = lab.serverLog();
  } finally {
    lab.destroy();
  }

  // fail2ban's own log: when it counted the first and last failure, and banned the first and last address.
  const lines = log.split('\n');
  const found = lines.filter((l) => /\] Found \S+ - /.test(l));
  const bans = lines.filter((l) => /\] Ban \S+$/.test(l));
  const lastFound = found.length ? logTime(found[found.length - 1]) - start : undefined;
  const firstFound = found.length ? logTime(found[0]) - start : undefined;
  const lastBanLogged = bans.length ? logTime(bans[bans.length - 1]) - start : undefined;
  const firstBanLogged = bans.length ? logTime(bans[0]) - start : undefined;
  const errors = lines.filter((l) => /\b(ERROR|CRITICAL)\b|Traceback/.test(l));
  const warnings = lines.filter((l) => /\bWARNING\b/.test(l));

  const expected = new Set(addresses);
  const inNft = new Set([...final.v4, ...final.v6]);
  const missingNft = addresses.filter((a) => !inNft.has(a));
  const banipSet = new Set(final.banip);
  const missingBanip = addresses.filter((a) => !banipSet.has(a));
  const stray = [...inNft].filter((a) => !expected.has(a));
  if (!final.ping.includes('pong')) problems.push(`server does not answer ping: ${final.ping}`);
  if (missingNft.length) problems.push(`${missingNft.length} addresses not in nftables, e.g. ${missingNft.slice(0, 3).join(', ')}`);
  if (missingBanip.length) problems.push(`${missingBanip.length} addresses not in banip, e.g. ${missingBanip.slice(0, 3).join(', ')}`);
  if (stray.length) problems.push(`${stray.length} unexpected addresses in nftables, e.g. ${stray.slice(0, 3).join(', ')}`);
  if (found.length !== totalLines) problems.push(`fail2ban logged ${found.length} "Found" lines for ${totalLines} failures`);
  if (errors.length) problems.push(`${errors.length} ERROR/CRITICAL/Traceback lines in the server log`);

  const clientTimes = samples.flatMap((s) => (s.clientMs === undefined ? [] : [s.clientMs]));
  const processedMs = lastFound ?? allCountedAt;
  /** Bans per second over `n` consecutive bans of fail2ban's log, from the `from`-th on. */
  const banRate = (from: number, n: number) => {
    const slice = bans.slice(from, from + n);
    const ms = slice.length > 1 ? logTime(slice[slice.length - 1]) - logTime(slice[0]) : 0;
    return ms > 0 ? ((slice.length - 1) / (ms / 1000)).toFixed(0) : 'n/a';
  };
  const rateSpan = Math.min(1000, Math.floor(bans.length / 2));
  const banWindow = lastBanLogged !== undefined && firstBanLogged !== undefined ? lastBanLogged - firstBanLogged : undefined;
  const rows: [string, string][] = [
    ['flood', `${totalLines} lines, ${addressCount} addresses × ${perAddress} (${v4Count} IPv4, ${addressCount - v4Count} IPv6), ${Math.ceil(totalLines / chunkLines)} appends`],
    ...(jailOverrides ? [['jail overrides', jailOverrides.replace(/\n/g, ' ')] as [string, string]] : []),
    ['appending the flood took', `${appendMs} ms`],
    ['first / last failure counted', `${seconds(firstFound)} / ${seconds(lastFound)} (fail2ban log; polled: all counted at ${seconds(allCountedAt)})`],
    ['lines/s counted', processedMs ? `${Math.round(totalLines / (processedMs / 1000))} (all ${totalLines} lines, bans running alongside)` : 'n/a'],
    ['first ban in nftables', seconds(firstBanAt)],
    ['all addresses in nftables', `${seconds(allBannedAt)}${timedOut && allBannedAt === undefined ? ' (timed out)' : ''}`],
    ['bans/s', banWindow ? `${(bans.length / (banWindow / 1000)).toFixed(0)} (first to last "Ban" in the log: ${seconds(banWindow)})` : 'n/a'],
    ['bans/s, first / last bans', rateSpan > 1 ? `${banRate(0, rateSpan)} over the first ${rateSpan}, ${banRate(bans.length - rateSpan, rateSpan)} over the last ${rateSpan}` : 'n/a'],
    ['nft sets at the end', `addr-set-sshd ${final.v4.length} (of ${v4Count}), addr6-set-sshd ${final.v6.length} (of ${addressCount - v4Count})`],
    ['fail2ban banip at the end', `${final.banip.length}`],
    ['RSS idle (before the flood)', mib(final.idle.rss)],
    ['peak RSS (VmHWM)', mib(final.end.hwm)],
    ['RSS at the end', mib(final.end.rss)],
    ['fail2ban-client status sshd', clientTimes.length ? `median ${clientTimes.sort((a, b) => a - b)[Math.floor(clientTimes.length / 2)]} ms, max ${Math.max(...clientTimes)} ms during the flood` : 'n/a'],
    ['ping after the flood', final.ping],
    ['server log', `${errors.length} ERROR/CRITICAL/Traceback, ${warnings.length} WARNING lines`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('');
  for (const [key, value] of rows) {
    console.log(`${key.padEnd(width)}  ${value}`);
  }
  for (const line of errors.slice(0, 20)) {
    console.log(`  ${line}`);
  }
  if (errors.length > 20) console.log(`  … ${errors.length - 20} more`);
  const warningKinds = new Map<string, number>();
  for (const line of warnings) {
    const kind = line.replace(/^.*?WARNING\s+/, '').replace(/[0-9a-f:.]{7,}/g, 'X').slice(0, 120);
    warningKinds.set(kind, (warningKinds.get(kind) ?? 0) + 1);
  }
  for (const [kind, count] of warningKinds) console.log(`  WARNING ×${count}: ${kind}`);

  fs.mkdirSync(path.join('dist', 'bench'), { recursive: true });
  fs.writeFileSync(
    path.join('dist', 'bench', 'flood.json'),
    JSON.stringify({ totalLines, addressCount, appendMs, firstFound, lastFound, allCountedAt, firstBanAt, allBannedAt, idle: final.idle, end: final.end, samples }),
  );
  if (problems.length) {
    console.log('');
    for (const problem of problems) console.log(`PROBLEM: ${problem}`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
