import { callFailure, KubectlRunner } from './kubectl';

/** An API call that failed, or answered something that is not what was asked for. */
export class ClusterError extends Error {
  /** The API's reason (`NotFound`, `Conflict`, `AlreadyExists`, …) when the server gave one. */
  readonly reason?: string;

  constructor(message: string, reason?: string) {
    super(message);
    this.name = 'ClusterError';
    this.reason = reason;
  }
}

/** How the CLI reaches the ban objects: kubectl, their API group and namespace, and how long one call may take. */
export interface ApiReach {
  readonly kubectl: KubectlRunner;
  readonly group: string;
  readonly namespace: string;
  readonly callSeconds: number;
}

/** An `OperatorBan`, or their collection. */
export function operatorBanPath(place: ApiReach, name?: string): string {
  const collection = `/apis/${place.group}/v1/namespaces/${place.namespace}/operatorbans`;
  return name === undefined ? collection : `${collection}/${name}`;
}

/** The collection of `Fail2banNode` reports. */
export function nodeReportsPath(place: ApiReach): string {
  return `/apis/${place.group}/v1/namespaces/${place.namespace}/fail2bannodes`;
}

type RawVerb = 'get' | 'create' | 'replace';

/**
 * One API request through `kubectl VERB --raw`: no discovery and no client-side schema, only the path and the
 * credentials of the kubeconfig (the workflow's short-lived token works as it is). Resolves to the parsed answer.
 */
export async function rawCall(reach: ApiReach, verb: RawVerb, path: string, body?: object): Promise<any> {
  const args = body === undefined ? [verb, '--raw', path] : [verb, '--raw', path, '-f', '-'];
  const what = `kubectl ${args.join(' ')}`;
  const result = await reach.kubectl(args, reach.callSeconds, body === undefined ? undefined : JSON.stringify(body));
  const failure = callFailure(result);
  if (failure !== undefined) {
    throw new ClusterError(`${what} failed (${failure})`, /Error from server \((\w+)\)/.exec(result.stderr)?.[1]);
  }
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new ClusterError(`${what} did not print JSON`);
  }
}
