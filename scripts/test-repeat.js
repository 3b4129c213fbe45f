// `npm run test:repeat -- N [JEST ARGS...]`: runs the test suite N times in a row (default 5) and prints, per run,
// pass or fail and the names of the failing tests; exits 1 if any run failed. The way to show the suite holds on a
// busy machine (README: "Checks before a commit and in CI").
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const [count = '5', ...jestArgs] = process.argv.slice(2);
const runs = Number(count);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`usage: npm run test:repeat -- N [JEST ARGS...]  (N: how many runs, a whole number >= 1; got ${JSON.stringify(count)})`);
  process.exit(2);
}

const root = path.join(__dirname, '..');
const jest = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'test-repeat-'));
const failedRuns = [];
try {
  for (let run = 1; run <= runs; run++) {
    const report = path.join(scratch, `run-${run}.json`);
    const started = Date.now();
    const result = spawnSync(process.execPath, [jest, '--json', `--outputFile=${report}`, ...jestArgs], { cwd: root, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const summary = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, 'utf8')) : undefined;
    const failures = (summary?.testResults ?? []).flatMap((suite) => {
      const tests = suite.assertionResults.filter((t) => t.status === 'failed').map((t) => `${path.relative(root, suite.name)} › ${t.fullName}`);
      // A suite that failed outside its tests (a syntax error, a hook) has no failed test to name.
      return tests.length === 0 && suite.status === 'failed' ? [`${path.relative(root, suite.name)}: ${suite.message.split('\n').find(Boolean) ?? 'failed'}`] : tests;
    });
    if (result.status === 0) {
      console.log(`run ${run}/${runs}: passed (${summary?.numPassedTests ?? '?'} tests, ${seconds} s)`);
    } else {
      failedRuns.push(run);
      console.log(`run ${run}/${runs}: FAILED (exit ${result.status ?? result.signal}, ${seconds} s)`);
      for (const failure of failures.length > 0 ? failures : [result.stderr.split('\n').slice(-20).join('\n')]) console.log(`  ${failure}`);
    }
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
console.log(failedRuns.length === 0 ? `all ${runs} runs passed` : `${failedRuns.length} of ${runs} runs failed: run ${failedRuns.join(', ')}`);
process.exit(failedRuns.length === 0 ? 0 : 1);
