import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildApp } from '../src/main';
import { DEFAULT_OUT_DIR, runSynth } from '../src/synth/cli';
import { readTree, synth, tempDir } from './helpers';

function run(argv: string[]): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runSynth(argv, () => buildApp(), { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the committed k3s/manifests/fail2ban equals a fresh synth (run `npm run synth` and commit)', () => {
  expect(readTree(DEFAULT_OUT_DIR)).toEqual(synth());
});

test('--out writes the four files to another directory', () => {
  const out = path.join(dir, 'manifests');
  expect(run(['--out', out]).code).toBe(0);
  expect(readTree(out)).toEqual(synth());
});

test('files synth no longer produces are removed and changed ones rewritten', () => {
  const out = path.join(dir, 'manifests');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'stale.yaml'), 'kind: Stale\n');
  fs.writeFileSync(path.join(out, 'configmap.yaml'), 'old\n');
  expect(run(['--out', out]).code).toBe(0);
  expect(readTree(out)).toEqual(synth());
});

test('a second synth with the same input leaves the files untouched', () => {
  const out = path.join(dir, 'manifests');
  run(['--out', out]);
  const before = fs.statSync(path.join(out, 'daemonset.yaml')).mtimeMs;
  const second = run(['--out', out]);
  expect(second.out).toContain('up to date');
  expect(fs.statSync(path.join(out, 'daemonset.yaml')).mtimeMs).toBe(before);
});

test('leaves no scratch directory beside the output', () => {
  const out = path.join(dir, 'manifests');
  run(['--out', out]);
  expect(fs.readdirSync(dir)).toEqual(['manifests']);
});

test('an unknown flag prints the usage and exits 2 without writing', () => {
  const out = path.join(dir, 'manifests');
  const result = run(['--out', out, '--frobnicate']);
  expect(result.code).toBe(2);
  expect(result.err).toContain("Unknown option '--frobnicate'");
  expect(result.err).toContain('usage: npm run synth');
  expect(fs.existsSync(out)).toBe(false);
});

test('--help prints the usage and exits 0', () => {
  const result = run(['--help']);
  expect(result.code).toBe(0);
  expect(result.out).toContain('--out DIR');
});
