// `npm run bench:batch-bans`: how fast bans reach nftables with the package's batching action (actions/
// nftables-batch.py) and with fail2ban's stock nftables action, in the same run, each in a real fail2ban-server in a
// network namespace (root needed), with the test fixture's configuration and only the banaction changed. For each:
// N addresses (3/4 IPv4 from 198.18.0.0/15, 1/4 IPv6 from 2001:db8::/32) handed to `set sshd banip` at once, until
// all are in nftables; then a clean restart with those bans in the database, until all are back; and the server's
// peak memory. Environment: BATCH_COUNTS (batching action, default "10000,50000"), STOCK_COUNTS (stock action,
// default "2000").
import { FIXTURE } from '../test/fixture';
import { Fail2banLab, synthesize } from '../test/harness/lab';
import { waitFor } from '../test/harness/wait';
import * as fs from 'node:fs';

/** Gives up on one step after this long: the stock action needs about 10 ms per address. */
const STEP_LIMIT_MS = 30 * 60 * 1000;

function addresses(count: number): string[] {
  const v4 = Math.round((count * 3) / 4);
  return [
    ...Array.from({ length: v4 }, (_, i) => `198.${18 + Math.floor(i / 65_024)}.${Math.floor((i % 65_024) / 254)}.${(i % 254) + 1}`),
    ...Array.from({ length: count - v4 }, (_, i) => `2001:db8::${Math.floor(i / 65_535).toString(16)}:${((i % 65_535) + 1).toString(16)}`),
  ];
}

function peakMiB(pid: number | undefined): number {
  const status = pid === undefined ? '' : fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

async function measure(banAction: string, count: number): Promise<string> {
  const config = synthesize({ defaults: { ...FIXTURE.defaults, banAction } });
  const lab = await Fail2banLab.start({ name: `f2b-bb${process.pid % 10_000}`, config });
  try {
    const all = addresses(count);
    const inNft = () => lab.nftSet('sshd').v4.length + lab.nftSet('sshd').v6.length;
    const start = Date.now();
    for (let i = 0; i < all.length; i += 2000) lab.client('set', 'sshd', 'banip', ...all.slice(i, i + 2000));
    await waitFor(`${count} bans in nftables`, () => inNft() >= count, STEP_LIMIT_MS);
    const banned = Date.now() - start;
    const peakBan = peakMiB(lab.pid);
    await waitFor('the bans in the database', () => lab.persisted('sshd').length >= count, STEP_LIMIT_MS);
    await lab.stopServer();
    const restart = Date.now();
    await lab.startServer();
    await waitFor(`${count} bans restored into nftables`, () => inNft() >= count, STEP_LIMIT_MS);
    const restored = Date.now() - restart;
    const peak = Math.max(peakBan, peakMiB(lab.pid));
    const rate = (ms: number) => Math.round((count * 1000) / ms);
    return `${banAction.padEnd(18)} ${String(count).padStart(6)} addresses: handed over -> all in nftables ${(banned / 1000).toFixed(1)} s (${rate(banned)}/s); restart -> all restored ${(restored / 1000).toFixed(1)} s (${rate(restored)}/s); peak ${peak.toFixed(0)} MiB`;
  } finally {
    lab.destroy();
  }
}

async function main(): Promise<void> {
  const counts = (text: string | undefined, fallback: string) => (text ?? fallback).split(',').filter(Boolean).map(Number);
  const lines: string[] = [];
  for (const count of counts(process.env.STOCK_COUNTS, '2000')) lines.push(await measure('nftables-multiport', count));
  for (const count of counts(process.env.BATCH_COUNTS, '10000,50000')) lines.push(await measure('nftables-batch', count));
  console.log('bans into nftables (sshd jail, real fail2ban-server; time from the first `set banip` call / from the start):');
  lines.forEach((line) => console.log(`  ${line}`));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
