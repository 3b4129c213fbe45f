// `npm run bench:pod-logs`: pod-log jails on the homelab's synthesized configuration (its Traefik jail), on the lab
// the end-to-end test uses (real fail2ban-servers in network namespaces, the synthesized agent and broker, the
// agent seeing the node's pod logs where the pod mounts them; root needed). Prints (1) discovery: a new pod's log
// file appears with a failure in it -> fail2ban counts that failure, and (2) throughput: Traefik access-log lines
// (CRI-wrapped JSON) per second through the jail's filter in the running server; and once, a new pod's log with
// maxretry failures of one client -> that client in nftables. Environment: BENCH_ROUNDS (default 20),
// BENCH_LINES (default 50 000).
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENERATED_LETTERS } from '../src/features/pod-logs/pod-names';
import { readSynthesized } from '../test/harness/lab';
import { SharingLab } from '../test/harness/sharing-lab';
import { waitFor } from '../test/harness/wait';
import { Figure, printFigures } from './figures';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const LINES = Number(process.env.BENCH_LINES ?? 50_000);
const JAIL = 'traefik-auth';
const randomSuffix = () => Array.from({ length: 5 }, () => GENERATED_LETTERS[Math.floor(Math.random() * GENERATED_LETTERS.length)]).join('');

/** A line of Traefik's JSON access log as containerd writes it. */
function accessLine(client: string, status: number, count: number): string {
  const now = new Date().toISOString();
  return (
    `${now.replace('Z', '123456Z')} stdout F {"ClientAddr":"${client}:${40000 + (count % 20000)}","ClientHost":"${client}","ClientPort":"${40000 + (count % 20000)}","ClientUsername":"-",` +
    `"DownstreamContentSize":17,"DownstreamStatus":${status},"Duration":181402,"RequestAddr":"app.example.com","RequestHost":"app.example.com","RequestMethod":"GET",` +
    `"RequestPath":"/admin","RequestProtocol":"HTTP/2.0","RouterName":"websecure-app@kubernetescrd","entryPointName":"websecure","level":"info","msg":"","time":"${now}"}\n`
  );
}

/** When fail2ban logged `[JAIL] Found ADDRESS` (its own millisecond timestamp, the server's zone being UTC), or undefined. */
function foundAt(log: string, address: string): number | undefined {
  const match = new RegExp(`^(\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d),(\\d{3}) .*\\[${JAIL}\\] Found ${address.replace(/\./g, '\\.')} `, 'm').exec(log);
  return match ? Date.parse(`${match[1].replace(' ', 'T')}.${match[2]}Z`) : undefined;
}

async function main(): Promise<void> {
  const config = readSynthesized();
  if (config.env.TZ !== 'UTC') throw new Error('the benchmark reads fail2ban log times as UTC: the homelab must run with TZ=UTC');
  const discovery: Figure = { what: "a new pod's log file with a failure -> fail2ban counted it", goalMs: 5000, values: [] };
  const lab = await SharingLab.start(config);
  let throughput = 0;
  let banMs = 0;
  let maxRetry = 0;
  try {
    const node = lab.node('k3s-agent-1');
    for (let round = 0; round < ROUNDS; round++) {
      const dir = path.join(node.podLogsDir, `kube-system_traefik-6f5f8d8d4c-${randomSuffix()}_${randomUUID()}`, 'traefik');
      const address = `198.18.${round}.1`;
      fs.mkdirSync(dir, { recursive: true });
      const start = Date.now();
      fs.writeFileSync(path.join(dir, '0.log'), accessLine(address, 401, round));
      await waitFor(`fail2ban to count ${address}`, () => foundAt(node.server.serverLog(), address) !== undefined);
      discovery.values.push(foundAt(node.server.serverLog(), address)! - start);
      fs.rmSync(path.dirname(dir), { recursive: true });
    }

    // A client failing basic-auth maxretry times in a pod created now -> banned in nftables (the homelab's jail).
    maxRetry = Number(/^\[traefik-auth\][^[]*?^maxretry = (\d+)$/ms.exec(config.files['jail.local'])![1]);
    const banned = '198.18.254.1';
    const banDir = path.join(node.podLogsDir, `kube-system_traefik-6f5f8d8d4c-${randomSuffix()}_${randomUUID()}`, 'traefik');
    fs.mkdirSync(banDir, { recursive: true });
    const banStart = Date.now();
    fs.writeFileSync(path.join(banDir, '0.log'), Array.from({ length: maxRetry }, (_, i) => accessLine(banned, 401, i)).join(''));
    await waitFor(`${banned} in nftables`, () => node.nftSet(JAIL).includes(banned));
    banMs = Date.now() - banStart;
    fs.rmSync(path.dirname(banDir), { recursive: true });

    // One pod's log, LINES lines at once: 9 in 10 answered 200, 1 in 10 a 401 from an address seen once (no ban),
    // and last a 401 from a marker address.
    const pod = `kube-system_traefik-6f5f8d8d4c-${randomSuffix()}_${randomUUID()}`;
    const dir = path.join(node.podLogsDir, pod, 'traefik');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, '0.log');
    fs.writeFileSync(file, '');
    await waitFor('the agent to add the file', () => node.server.client('get', JAIL, 'logpath').includes(`/var/log/host/pods/${pod}/traefik/0.log`));
    const lines = Array.from({ length: LINES }, (_, i) => accessLine(`198.19.${Math.floor(i / 250) % 256}.${i % 250}`, i % 10 === 0 ? 401 : 200, i));
    const marker = '198.18.255.254';
    const start = Date.now();
    fs.appendFileSync(file, lines.join('') + accessLine(marker, 401, LINES));
    await waitFor('fail2ban to read every line', () => foundAt(node.server.serverLog(), marker) !== undefined, 600_000);
    throughput = (LINES + 1) / ((foundAt(node.server.serverLog(), marker)! - start) / 1000);
  } finally {
    await lab.destroy();
  }
  console.log(`pod-log jail "${JAIL}" (the homelab's), ${ROUNDS} new pods, the agent scanning every second:`);
  printFigures([discovery], 62);
  console.log(`  a new pod's log with ${maxRetry} basic-auth failures of one client -> the client in nftables: ${banMs} ms (polled)`);
  console.log(`  throughput: ${LINES} CRI-wrapped Traefik JSON access-log lines (1 in 10 a 401) -> ${throughput.toFixed(0)} lines/s through traefik-auth-json-cri`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
