import { execFile, ExecFileException } from 'node:child_process';

/** How one kubectl call ended. */
export interface CommandResult {
  /** Exit code; `null` when the command did not run to its end (see `failure`). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Why there is no exit code: not found, timed out, killed. */
  readonly failure?: string;
}

/** Runs kubectl with an argument array and, for a request body, text on its standard input. */
export type KubectlRunner = (args: readonly string[], timeoutSeconds: number, stdin?: string) => Promise<CommandResult>;

function describeFailure(command: string, error: ExecFileException, timeoutSeconds: number): string {
  // A string code (spawn errors, output over maxBuffer) comes with its own kill; only a bare kill is the timeout.
  if (error.code === 'ENOENT') {
    return `${command} not found: install kubectl or point $KUBECTL at it`;
  }
  if (error.killed && typeof error.code !== 'string') {
    return `timed out after ${timeoutSeconds} s`;
  }
  return error.message;
}

/**
 * kubectl through execFile, never a shell: paths and bodies are arguments and input, not text to parse. Standard
 * input is always closed, so that a `-f -` never waits for a body that is not coming.
 */
export function execFileKubectl(command: string, env: NodeJS.ProcessEnv = process.env): KubectlRunner {
  return (args, timeoutSeconds, stdin) =>
    new Promise((resolve) => {
      const options = { env, timeout: timeoutSeconds * 1000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' as const };
      const child = execFile(command, [...args], options, (error, stdout, stderr) => {
        if (!error) {
          resolve({ code: 0, stdout, stderr });
        } else if (typeof error.code === 'number' && !error.killed) {
          resolve({ code: error.code, stdout, stderr });
        } else {
          resolve({ code: null, stdout, stderr, failure: describeFailure(command, error, timeoutSeconds) });
        }
      });
      // A kubectl that exits before reading its input (not found, a bad flag) breaks the pipe: its exit says why.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(stdin ?? '');
    });
}

/** Why a call failed, in one line; `undefined` when it succeeded. kubectl explains itself on stderr. */
export function callFailure(result: CommandResult): string | undefined {
  if (result.code === 0) {
    return undefined;
  }
  if (result.failure !== undefined) {
    return result.failure;
  }
  const said = result.stderr.trim().replace(/\s*\n\s*/g, ' ') || 'no output';
  return `exit ${result.code}: ${said}`;
}
