// `npm run bench:detection`: time from the last failure line appended to a host log until the ban, with the real
// fail2ban-server running the committed configuration in a network namespace (root needed).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fail2banLab, readSynthesized, sshdFailedPassword, syslogTime } from '../test/harness/lab';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Milliseconds since the epoch of fail2ban's `Ban ADDRESS` log line, or undefined while there is none. */
function banLoggedAt(lab: Fail2banLab, timeZone: string, address: string): number | undefined {
  const line = lab.serverLog().split('\n').find((l) => l.endsWith(`] Ban ${address}`));
  const stamp = line && /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})/.exec(line);
  return stamp && timeZone === 'UTC' ? Date.parse(`${stamp[1]}T${stamp[2]}.${stamp[3]}Z`) : undefined;
}

async function main(): Promise<void> {
  const config = readSynthesized();
  const timeZone = config.env.TZ;
  const lab = await Fail2banLab.start({ name: 'f2b-bench', config });
  const toLog: number[] = [];
  const toNft: number[] = [];
  try {
    for (let i = 1; i <= SAMPLES; i++) {
      const address = `198.51.100.${i}`;
      const line = (n: number) => sshdFailedPassword(syslogTime(timeZone), 'bench', 10_000 + i * 10 + n, address, 40_000 + n);
      lab.appendLog('/var/log/host/auth.log', [line(1), line(2)]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const appended = Date.now();
      lab.appendLog('/var/log/host/auth.log', [line(3)]);
      while (!lab.nftSet('sshd').v4.includes(address)) {
        if (Date.now() - appended > 10_000) {
          throw new Error(`${address} was not banned within 10 s:\n${lab.serverLog()}`);
        }
      }
      toNft.push(Date.now() - appended);
      const logged = banLoggedAt(lab, timeZone, address);
      if (logged !== undefined) {
        toLog.push(logged - appended);
      }
    }
  } finally {
    lab.destroy();
  }
  const stats = (values: number[]) => `median ${median(values).toFixed(0)} ms, min ${Math.min(...values)} ms, max ${Math.max(...values)} ms`;
  const banAction = /^banaction = (.*)$/m.exec(config.files['jail.local'])?.[1] ?? "fail2ban's default";
  console.log(`${SAMPLES} bans (sshd, maxretry 3, pyinotify backend, banaction ${banAction}):`);
  console.log(`  last log line -> "Ban" in fail2ban's log:   ${toLog.length ? stats(toLog) : 'n/a (TZ is not UTC)'}`);
  console.log(`  last log line -> address in nftables set:   ${stats(toNft)}  (goal: median < 1000 ms)`);
  fs.writeFileSync(path.join('dist', 'bench', 'detection.json'), JSON.stringify({ toLog, toNft }));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
