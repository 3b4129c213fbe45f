// `npm run bench`: how long synth takes, next to what it cannot beat (loading cdk8s) and the stock cdk8s route.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const withTests = process.argv.includes('--tests');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fail2ban-bench-'));

/** Wall time of one run of a command, in milliseconds; a failed run aborts the benchmark. */
function once(command: string, args: string[], before?: () => void): number {
  before?.();
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: process.env.CI ?? '' } });
  const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  }
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Edits the entry point before each run (a new comment line, restored at the end), as a user does before synth: a
 * build cache or stale output could then not make synth look faster (today synth bundles on every run anyway).
 */
const MAIN = 'src/main.ts';
const original = fs.readFileSync(MAIN, 'utf8');
let edits = 0;
function editSources(): void {
  fs.writeFileSync(MAIN, `${original}// bench edit ${++edits}\n`);
}
process.on('exit', () => fs.writeFileSync(MAIN, original));

const cases: Array<[label: string, command: string, args: string[], before?: () => void]> = [
  ['floor: node loading cdk8s + cdk8s-plus-28', process.execPath, ['-e', "require('cdk8s'); require('cdk8s-plus-28')"]],
  // The real command: it renders everything (manifests, Flux file, audit policy, operations document, summary) and,
  // as the edit changes no output, writes nothing.
  ['npm run synth (edited tree)', 'npm', ['run', '-s', 'synth'], editSources],
  ['ts-node src/main.ts (stock cdk8s route)', 'node_modules/.bin/ts-node', ['-e', "require('./src/main').main()"], editSources],
  ['homelab config (bundled app)', process.execPath, ['dist/bench/homelab-app.js', '--out', path.join(tmp, 'homelab')]],
  ['50 jails + 50 filters (bundled app)', process.execPath, ['dist/bench/large-app.js', '--out', path.join(tmp, 'large')]],
];

// Rounds of one run per case, rather than all runs of one case and then the next: a machine that slows down for a
// while (another job, CPU frequency) then slows every case alike instead of skewing one ratio.
const times = new Map<string, number[]>(cases.map(([label]) => [label, []]));
for (let round = 0; round < RUNS; round++) {
  for (const [label, command, args, before] of cases) {
    times.get(label)!.push(once(command, args, before));
  }
}
const medians = new Map<string, number>();
for (const [label, runs] of times) {
  medians.set(label, median(runs));
  console.log(`${label.padEnd(45)} median ${median(runs).toFixed(0).padStart(6)} ms  (${runs.map((t) => t.toFixed(0)).join(', ')})`);
}

const ratio = (a: string, b: string) => (medians.get(a)! / medians.get(b)!).toFixed(2);
console.log('');
console.log(`synth / floor:            ${ratio('npm run synth (edited tree)', 'floor: node loading cdk8s + cdk8s-plus-28')}x  (target <= 2.5)`);
console.log(`ts-node / synth:          ${ratio('ts-node src/main.ts (stock cdk8s route)', 'npm run synth (edited tree)')}x  (target >= 5)`);
console.log(`large / homelab config:   ${ratio('50 jails + 50 filters (bundled app)', 'homelab config (bundled app)')}x  (target <= 1.5)`);

if (withTests) {
  const start = process.hrtime.bigint();
  const result = spawnSync('npm', ['test'], { stdio: 'ignore' });
  console.log(`npm test wall time:       ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s (exit ${result.status}; target <= 30 s)`);
}
fs.rmSync(tmp, { recursive: true, force: true });
