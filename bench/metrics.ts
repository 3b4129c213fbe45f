// `npm run bench:metrics`: the node agent's metrics endpoint on the homelab's synthesized configuration (a snapshot
// of fail2ban at most every 10 s), on the lab the end-to-end tests use (real fail2ban-servers, the synthesized agent
// and broker; root needed), with BANS (default 10 000) addresses banned in sshd on one node: how long a scrape takes
// when it reads fail2ban and when it gets the last snapshot, and the agent's and fail2ban-server's CPU (and a ban's
// latency) while Prometheus scrapes as the package's PodMonitor does (every 30 s). Environment: BANS, BENCH_SECONDS
// (default 120).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { SCRAPE_INTERVAL } from '../src/features/metrics/monitoring/pod-monitor';
import { readSynthesized } from '../test/harness/lab';
import { SharingLab } from '../test/harness/sharing-lab';
import { waitFor } from '../test/harness/wait';
import { median } from './figures';

const BANS = Number(process.env.BANS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 120);

function scrape(port: number): Promise<{ ms: number; body: string }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics' }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, body }));
      })
      .on('error', reject);
  });
}

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 per second on Linux)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const config = readSynthesized();
  const snapshotMs = Number(config.daemonSet.spec.template.spec.containers.find((c: any) => c.name === 'node-agent').env.find((e: any) => e.name === 'METRICS_SNAPSHOT_SECONDS').value) * 1000;
  const scrapeMs = Number(SCRAPE_INTERVAL.replace(/s$/, '')) * 1000;
  const lab = await SharingLab.start(config);
  const cold: number[] = [];
  const cached: number[] = [];
  let cpuPercent = 0;
  let serverPercent = 0;
  const banLatency: number[] = [];
  let bytes = 0;
  try {
    const node = lab.node('k3s-server');
    const port = node.metricsPort!;
    for (let start = 0; start < BANS; start += 1000) {
      const batch = Array.from({ length: Math.min(1000, BANS - start) }, (_, i) => `198.18.${Math.floor((start + i) / 250)}.${((start + i) % 250) + 1}`);
      node.server.client('set', 'sshd', 'banip', ...batch);
    }
    await waitFor(`${BANS} bans`, () => (node.server.client('status', 'sshd').match(/Currently banned:\s+(\d+)/)?.[1] ?? '') === String(BANS), 600_000);
    await sleep(snapshotMs + 100); // the agent's snapshot thread has read the bans
    const first = await scrape(port);
    bytes = first.body.length;
    if (!first.body.includes(`f2b_jail_banned_current{jail="sshd"} ${BANS}`)) throw new Error(`the scrape does not show ${BANS} bans:\n${first.body}`);
    for (let i = 0; i < 50; i++) cached.push((await scrape(port)).ms);
    // A snapshot's round through the node's broker, as the agent's thread runs it (agent/metrics.py).
    const round = [
      'import sys, time',
      'from agent.f2b_socket import Fail2ban',
      'from agent.metrics import Fail2banSnapshot, Registry',
      'times = []',
      'for _ in range(10):',
      '    snapshot = Fail2banSnapshot(Fail2ban(sys.argv[1]), Registry())',
      '    start = time.perf_counter(); taken = snapshot.take(); times.append((time.perf_counter() - start) * 1000)',
      '    assert taken[("f2b_up", ())] == 1, taken',
      'print(" ".join(f"{t:.2f}" for t in times))',
    ].join('\n');
    const out = execFileSync('/usr/bin/python3', ['-c', round, node.brokerSocket], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8' });
    cold.push(...out.trim().split(' ').map(Number));
    const agent = node.agentPid!;
    const server = node.server.pid!;
    const before = { agent: cpuSeconds(agent), server: cpuSeconds(server) };
    const started = Date.now();
    while (Date.now() - started < SECONDS * 1000) {
      await scrape(port);
      // A ban while the agent reads fail2ban: how long `set sshd banip` takes, with the snapshots going on.
      const ip = `198.19.${Math.floor(banLatency.length / 250)}.${(banLatency.length % 250) + 1}`;
      const start = process.hrtime.bigint();
      node.server.client('set', 'sshd', 'banip', ip);
      banLatency.push(Number(process.hrtime.bigint() - start) / 1e6);
      await sleep(scrapeMs);
    }
    const elapsed = (Date.now() - started) / 1000;
    cpuPercent = ((cpuSeconds(agent) - before.agent) / elapsed) * 100;
    serverPercent = ((cpuSeconds(server) - before.server) / elapsed) * 100;
  } finally {
    await lab.destroy();
  }
  const show = (values: number[]) => `median ${median(values).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms (n=${values.length})`;
  console.log(`metrics with ${BANS} addresses banned in sshd (the homelab's configuration, a snapshot every ${snapshotMs / 1000} s):`);
  console.log(`  a snapshot's round through the broker: ${show(cold)}`);
  console.log(`  a scrape (of the last snapshot):       ${show(cached)}`);
  console.log(`  the exposition: ${bytes} bytes`);
  console.log(`  scraped every ${scrapeMs / 1000} s for ${SECONDS} s: the agent's CPU ${cpuPercent.toFixed(2)} % of one core (its other work included),`);
  console.log(`  fail2ban-server's ${serverPercent.toFixed(2)} % (its own work included); fail2ban-client set sshd banip meanwhile: ${show(banLatency)} (a Python process each)`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
