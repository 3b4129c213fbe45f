import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fail2banProps } from '../src/resolve/props';
import { buildApp, paths } from '../src/main';
import { runSynth } from '../src/synth/cli';
import { renderYamlFile } from '../src/outputs/manifests';
import { fixture, withJail } from './fixture';
import { readTree, synth, tempDir } from './helpers';

// `npm run synth`'s command line on the test fixture's props, written to temporary folders. Whether the committed
// files are fresh: test/homelab.test.ts.

/** `npm run synth -- ARGV` with the fixture's props (changed by `changes`). */
function run(argv: string[], changes: Partial<Fail2banProps> = {}): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runSynth(argv, () => buildApp(fixture(changes)), paths, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
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
  expect(second.out).toBe('synth: no change');
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

test('--check exits 1 naming each stale file, and writes nothing', () => {
  const out = path.join(dir, 'manifests');
  run(['--out', out]);
  fs.writeFileSync(path.join(out, 'configmap.yaml'), fs.readFileSync(path.join(out, 'configmap.yaml'), 'utf8').replace('maxretry = 3', 'maxretry = 4'));
  fs.rmSync(path.join(out, 'namespace.yaml'));
  fs.writeFileSync(path.join(out, 'extra.yaml'), 'kind: Extra\n');
  const before = readTree(out);
  const result = run(['--out', out, '--check']);
  expect(result.code).toBe(1);
  expect(result.err).toContain('run `npm run synth`');
  expect(result.err).toContain(`changed ${path.join(out, 'configmap.yaml')} (+1 -1 lines)`);
  expect(result.err).toContain(`added ${path.join(out, 'namespace.yaml')}`);
  expect(result.err).toContain(`removed ${path.join(out, 'extra.yaml')}`);
  expect(readTree(out)).toEqual(before);
});

test('--out alone leaves the Flux file alone; --flux-out writes it where asked', () => {
  const out = path.join(dir, 'manifests');
  const flux = path.join(dir, 'flux', 'fail2ban.yaml');
  run(['--out', out]);
  expect(fs.existsSync(flux)).toBe(false);
  expect(run(['--out', out, '--flux-out', flux]).code).toBe(0);
  expect(fs.readFileSync(flux, 'utf8')).toBe(renderYamlFile(buildApp(fixture()).files!.flux));
});

describe('the change summary', () => {
  const sshdMaxRetry4 = withJail('sshd', { maxRetry: 4 });

  test('synth tells in operator terms what a changed maxretry does, and that the pods roll', () => {
    const out = path.join(dir, 'manifests');
    run(['--out', out]);
    const result = run(['--out', out], sshdMaxRetry4);
    expect(result.out).toContain('  jail sshd: maxretry 3 → 4');
    expect(result.out).toMatch(/DaemonSet fail2ban: pods will roll on every node \(config hash [0-9a-f]+… → [0-9a-f]+…/);
    expect(result.out).toContain(`changed ${path.join(out, 'configmap.yaml')}`);
  });

  test('--check shows the same summary without writing', () => {
    const out = path.join(dir, 'manifests');
    run(['--out', out]);
    const before = readTree(out);
    const result = run(['--out', out, '--check'], sshdMaxRetry4);
    expect(result.code).toBe(1);
    expect(result.err).toContain('  jail sshd: maxretry 3 → 4');
    expect(readTree(out)).toEqual(before);
  });
});

test('the cdk8s CLI route: without --out, CDK8S_OUTDIR (set by `cdk8s synth` from cdk8s.yaml) is where it writes', () => {
  const out = path.join(dir, 'cdk8s-out');
  process.env.CDK8S_OUTDIR = out;
  try {
    expect(run([]).code).toBe(0);
  } finally {
    delete process.env.CDK8S_OUTDIR;
  }
  expect(readTree(out)).toEqual(synth());
  expect(fs.readFileSync('cdk8s.yaml', 'utf8')).toMatch(/^app: node scripts\/synth\.js$/m);
  expect(fs.readFileSync('cdk8s.yaml', 'utf8')).toMatch(new RegExp(`^output: ${paths.manifestsDir}$`, 'm'));
});
