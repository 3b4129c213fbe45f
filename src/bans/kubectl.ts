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

/** Runs kubectl with an argument array; tests put a stand-in behind it. */
export type KubectlRunner = (args: readonly string[], timeoutSeconds: number) => Promise<CommandResult>;

/** A kubectl call that failed, or answered something that is not what was asked for. */
export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

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
 * kubectl through execFile, never a shell: pod names, jails and addresses are arguments, not text to parse. The
 * timeout kills the local kubectl; a fail2ban-client already started in the pod finishes on its own.
 */
export function execFileKubectl(command: string, env: NodeJS.ProcessEnv = process.env): KubectlRunner {
  return (args, timeoutSeconds) =>
    new Promise((resolve) => {
      const options = { env, timeout: timeoutSeconds * 1000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' as const };
      execFile(command, [...args], options, (error, stdout, stderr) => {
        if (!error) {
          resolve({ code: 0, stdout, stderr });
        } else if (typeof error.code === 'number' && !error.killed) {
          resolve({ code: error.code, stdout, stderr });
        } else {
          resolve({ code: null, stdout, stderr, failure: describeFailure(command, error, timeoutSeconds) });
        }
      });
    });
}

/** The last non-empty line of a command's output. */
function lastLine(text: string): string {
  return text.trim().split('\n').pop()?.trim() ?? '';
}

/** Why a call failed, in one line; `undefined` when it succeeded. fail2ban-client explains itself on stdout. */
export function callFailure(result: CommandResult): string | undefined {
  if (result.code === 0) {
    return undefined;
  }
  if (result.failure !== undefined) {
    return result.failure;
  }
  const said = lastLine(result.stdout) || lastLine(result.stderr) || 'no output';
  return `exit ${result.code}: ${said}`;
}

/** A node as far as ban coverage cares. */
export interface NodeInfo {
  readonly name: string;
  /** False when cordoned (`spec.unschedulable`). */
  readonly schedulable: boolean;
}

/** A fail2ban pod as far as ban coverage cares. */
export interface PodInfo {
  readonly name: string;
  /** `spec.nodeName`; absent while the pod is not scheduled. */
  readonly node?: string;
  readonly phase: string;
  /** The `Ready` condition is `True`. */
  readonly ready: boolean;
  /** Has a deletion timestamp: on its way out, even if still Ready. */
  readonly terminating: boolean;
}

async function getItems(kubectl: KubectlRunner, args: readonly string[], timeoutSeconds: number): Promise<any[]> {
  const what = `kubectl ${args.join(' ')}`;
  const result = await kubectl(args, timeoutSeconds);
  const failure = callFailure(result);
  if (failure !== undefined) {
    throw new ClusterError(`${what} failed (${failure})`);
  }
  let list: any;
  try {
    list = JSON.parse(result.stdout);
  } catch {
    throw new ClusterError(`${what} did not print JSON`);
  }
  if (!Array.isArray(list?.items)) {
    throw new ClusterError(`${what} printed JSON without an items list`);
  }
  return list.items;
}

/** Every node of the cluster. */
export async function getNodes(kubectl: KubectlRunner, timeoutSeconds: number): Promise<NodeInfo[]> {
  const items = await getItems(kubectl, ['get', 'nodes', '-o', 'json'], timeoutSeconds);
  return items.map((node) => ({ name: String(node.metadata?.name), schedulable: node.spec?.unschedulable !== true }));
}

/** The pods of a namespace that match a label selector (`a=b,c=d`). */
export async function getPods(kubectl: KubectlRunner, namespace: string, selector: string, timeoutSeconds: number): Promise<PodInfo[]> {
  const items = await getItems(kubectl, ['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json'], timeoutSeconds);
  return items.map((pod) => ({
    name: String(pod.metadata?.name),
    node: pod.spec?.nodeName,
    phase: String(pod.status?.phase ?? 'Unknown'),
    ready: (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    terminating: pod.metadata?.deletionTimestamp !== undefined,
  }));
}

/** `fail2ban-client ARGS` inside a pod; kubectl exec passes the remote exit code through. */
export function execFail2banClient(
  kubectl: KubectlRunner,
  namespace: string,
  pod: string,
  args: readonly string[],
  timeoutSeconds: number,
): Promise<CommandResult> {
  return kubectl(['exec', '-n', namespace, pod, '--', 'fail2ban-client', ...args], timeoutSeconds);
}

/** Deletes a shared ban's ledger record, which every node's agent turns into an unban. */
export async function deleteBanRecord(
  kubectl: KubectlRunner,
  namespace: string,
  group: string,
  names: readonly string[],
  timeoutSeconds: number,
): Promise<string | undefined> {
  return callFailure(await kubectl(['delete', `bans.${group}`, ...names, '-n', namespace, '--ignore-not-found'], timeoutSeconds));
}
