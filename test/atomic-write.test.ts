import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { writeTreeAtomically } from '../src/synth/atomic-write';
import { readTree, tempDir } from './helpers';

const previous = { 'a.yaml': 'kind: A\nversion: 1\n', 'b.yaml': 'kind: B\nversion: 1\n', 'gone.yaml': 'kind: Gone\n' };
const next = { 'a.yaml': 'kind: A\nversion: 2\n', 'b.yaml': 'kind: B\nversion: 2\n', 'c.yaml': 'kind: C\n' };

let dir: string;
let out: string;
beforeEach(() => {
  dir = tempDir();
  out = path.join(dir, 'manifests');
  writeTreeAtomically(out, previous);
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the writer in a child process that SIGKILLs itself at the given call of an fs function, the way an OOM kill
 * or a closed laptop would interrupt `npm run synth`.
 */
function writeAndDie(fn: 'writeFileSync' | 'renameSync', atCall: number): void {
  const bundle = path.join(dir, 'writer.js');
  buildSync({ entryPoints: ['src/synth/atomic-write.ts'], bundle: true, platform: 'node', format: 'cjs', outfile: bundle, logLevel: 'error' });
  const script = `
    const fs = require('node:fs');
    const original = fs.${fn};
    let calls = 0;
    fs.${fn} = (...args) => {
      if (++calls === ${atCall}) process.kill(process.pid, 'SIGKILL');
      return original(...args);
    };
    require(${JSON.stringify(bundle)}).writeTreeAtomically(${JSON.stringify(out)}, ${JSON.stringify(next)});
  `;
  const child = spawnSync(process.execPath, ['-e', script]);
  expect(child.signal).toBe('SIGKILL');
}

test('a kill while files are being written leaves the previous tree intact', () => {
  writeAndDie('writeFileSync', 2);
  expect(readTree(out)).toEqual(previous);
});

test('a kill between the two renames leaves no directory rather than a mixed one, and the next run recovers', () => {
  writeAndDie('renameSync', 2);
  expect(fs.existsSync(out)).toBe(false);
  writeTreeAtomically(out, next);
  expect(readTree(out)).toEqual(next);
  expect(fs.readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([]);
});

test('after a kill, the next run removes the scratch directory and writes the new tree', () => {
  writeAndDie('writeFileSync', 2);
  expect(fs.readdirSync(dir).some((name) => name.startsWith('.manifests.synth-'))).toBe(true);
  writeTreeAtomically(out, next);
  expect(readTree(out)).toEqual(next);
  expect(fs.readdirSync(dir).sort()).toEqual(['manifests', 'writer.js']);
});

test('an error while writing leaves the previous tree intact', () => {
  expect(() => writeTreeAtomically(out, { 'a.yaml': 'x', 'sub/b.yaml': 'y' })).toThrow();
  expect(readTree(out)).toEqual(previous);
  expect(fs.readdirSync(dir)).toEqual(['manifests']);
});
