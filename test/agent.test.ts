import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BuildOptions, buildSync } from 'esbuild';
import { describeWithTools } from './fail2ban-tools';
import { HANG_MS } from './harness/wait';

const { BUNDLE_OPTIONS }: { BUNDLE_OPTIONS: BuildOptions } = require('../scripts/bundle-options');

/** Debian's python, which has fail2ban's socket client (the `python3` on PATH may be another one without it). */
const PYTHON = '/usr/bin/python3';
const ROOT = path.join(__dirname, '..');
/** The suite has 115 tests; fewer means some were lost (an import error, a class no longer collected). */
const MIN_TESTS = 137;
/** The tests mostly wait (on sockets, threads and the agent's loops): they run in this many processes at once. */
const SHARDS = 3;

interface Run {
  readonly code: number | string | null;
  readonly output: string;
}

/**
 * The stand-in Kubernetes API the TypeScript labs use (harness/fake-kube-api.ts), bundled once for every Python test
 * that starts it (scripts/kube-api-standin.js runs this bundle).
 */
const standIn = path.join(ROOT, 'dist', 'standin', `kube-api-server-${process.pid}.js`);

function python(args: string[]): Promise<Run> {
  const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', KUBE_API_STANDIN_BUNDLE: standIn };
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      args,
      { cwd: ROOT, encoding: 'utf8', timeout: HANG_MS * 4, env },
      (error, stdout, stderr) => {
        resolve({ code: error ? (error.code ?? error.signal ?? null) : 0, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** Prints the id of every test in agent/tests/, one per line. */
const LIST_TESTS = `
import unittest
def ids(suite):
    for item in suite:
        yield from ids(item) if isinstance(item, unittest.TestSuite) else [item.id()]
print('\\n'.join(ids(unittest.defaultTestLoader.discover('agent/tests', top_level_dir='.'))))
`;

describeWithTools(['fail2ban-server'], 'the node agent (agent/)', () => {
  beforeAll(() => {
    buildSync({ absWorkingDir: ROOT, entryPoints: ['test/harness/kube-api-server.ts'], outfile: standIn, ...BUNDLE_OPTIONS });
  });
  afterAll(() => fs.rmSync(standIn, { force: true }));

  it('passes its unittest suite: pure parts, loops against a stand-in API and fail2ban socket, a real fail2ban-server', async () => {
    const probe = await python(['-c', 'from fail2ban.client.csocket import CSocket']);
    if (probe.code !== 0) {
      throw new Error(`${PYTHON} cannot import fail2ban's socket client (install Debian's fail2ban):\n${probe.output}`);
    }
    const listing = await python(['-c', LIST_TESTS]);
    const ids = listing.output.split('\n').filter(Boolean);
    if (listing.code !== 0 || ids.length === 0) throw new Error(`listing the agent's tests failed:\n${listing.output}`);
    const shards = Array.from({ length: SHARDS }, (_, shard) => ids.filter((_, i) => i % SHARDS === shard));
    const runs = await Promise.all(shards.map((shard) => python(['-m', 'unittest', '-v', ...shard])));
    const run = { code: runs.find((r) => r.code !== 0)?.code ?? 0, output: runs.map((r) => r.output).join('\n') };
    const count = runs.reduce((sum, r) => sum + Number(/^Ran (\d+) tests? in /m.exec(r.output)?.[1] ?? 0), 0);
    // A test skips without openssl (HTTPS) or fail2ban-server; under CI=true that counts as a failure.
    const skipped = /^OK \(.*skipped=\d+/m.test(run.output);
    if (skipped && process.env.CI !== 'true') {
      console.warn(`some agent tests were skipped:\n${run.output.split('\n').filter((line) => line.includes('skipped')).join('\n')}`);
    }
    if (run.code !== 0 || count < MIN_TESTS || (skipped && process.env.CI === 'true')) {
      throw new Error(
        `${PYTHON} -m unittest -v agent.tests (in ${SHARDS} processes): exit ${run.code}, ran ${count} tests ` +
          `(at least ${MIN_TESTS} expected)${skipped ? ', some skipped' : ''}\n\n${run.output}`,
      );
    }
    expect(run.code).toBe(0);
    expect(count).toBeGreaterThanOrEqual(MIN_TESTS);
  });
});
