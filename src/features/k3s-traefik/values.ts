import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';

/** Helm chart values: a YAML mapping. */
export type ChartValues = Readonly<Record<string, unknown>>;

/** A value of Traefik's chart that the JSON filter needs, at its path in the values. */
export interface RequiredValue {
  readonly path: readonly string[];
  readonly value: unknown;
  /** Why the jail needs it, for messages. */
  readonly why: string;
}

/**
 * What filters/traefik-auth-json-cri.conf needs of k3s's Traefik chart (traefik/traefik-helm-chart v27 to v40,
 * values.yaml `logs.access` and `service.spec`; v41 moved the access log to `accessLog`). No `filePath`: Traefik
 * writes the access log to stdout, which containerd keeps as the pod log.
 */
export const REQUIRED_VALUES: readonly RequiredValue[] = [
  { path: ['logs', 'access', 'enabled'], value: true, why: 'the jail reads the access log' },
  { path: ['logs', 'access', 'format'], value: 'json', why: "filters/traefik-auth-json-cri.conf reads Traefik's JSON lines" },
  { path: ['logs', 'access', 'filePath'], value: '', why: 'the access log must go to stdout, the pod log the jail reads' },
  { path: ['logs', 'access', 'fields', 'general', 'names', 'ClientAddr'], value: 'keep', why: 'the filter bans the address in ClientAddr' },
  { path: ['logs', 'access', 'fields', 'general', 'names', 'DownstreamStatus'], value: 'keep', why: 'the filter counts DownstreamStatus 401' },
  {
    path: ['service', 'spec', 'externalTrafficPolicy'],
    value: 'Local',
    why: "behind ServiceLB, Traefik sees the clients' addresses only with Local (with Cluster it sees a node's or a pod's, which are never banned)",
  },
];

/** Service types `externalTrafficPolicy` applies to: the API server refuses it on any other. */
const EXTERNAL_SERVICE_TYPES = ['LoadBalancer', 'NodePort'];

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Whether Traefik's `accesslog.filters.statuscodes` (e.g. "400-499,500") lets a 401 through. */
function keeps401(statusCodes: string): boolean {
  return statusCodes.split(',').some((part) => {
    const [from, to = from] = part.trim().split('-').map(Number);
    return from <= 401 && 401 <= to;
  });
}

/** Problems of the user's chart values against what the filter needs, each naming the key and the fix. */
export function checkValues(values: unknown): string[] {
  const where = 'k3sTraefik.values';
  if (!isMapping(values)) {
    return [`${where} is ${show(values)}, not a mapping of chart values. Fix: e.g. { deployment: { kind: 'DaemonSet' } }, or leave it unset.`];
  }
  const problems: string[] = [];
  const reported = new Set<string>();
  for (const { path, value, why } of REQUIRED_VALUES) {
    let node: unknown = values;
    for (const [i, key] of path.entries()) {
      const here = path.slice(0, i + 1).join('.');
      const next = (node as Record<string, unknown>)[key];
      if (next === undefined) break;
      if (i === path.length - 1) {
        if (!isDeepStrictEqual(next, value)) {
          problems.push(`${where}: ${here} is ${show(next)}, but ${why}. Fix: remove ${here} from ${where}; the package sets it to ${show(value)}.`);
        }
      } else if (!isMapping(next)) {
        if (!reported.has(here)) {
          reported.add(here);
          problems.push(`${where}: ${here} is ${show(next)}, not a mapping, but the package sets ${path.join('.')} in it. Fix: make ${here} a mapping, or remove it.`);
        }
        break;
      }
      node = next;
    }
  }
  const access = (values.logs as Record<string, unknown> | undefined)?.access;
  const statusCodes = isMapping(access) && isMapping(access.filters) ? access.filters.statuscodes : undefined;
  if (typeof statusCodes === 'string' && statusCodes.trim() !== '' && !keeps401(statusCodes)) {
    problems.push(`${where}: logs.access.filters.statuscodes is ${show(statusCodes)}, which drops the 401 lines the jail counts. Fix: include 401 (e.g. "400-499,500-599"), or remove it.`);
  }
  const serviceType = isMapping(values.service) ? values.service.type : undefined;
  if (serviceType !== undefined && !EXTERNAL_SERVICE_TYPES.includes(serviceType as string)) {
    problems.push(`${where}: service.type is ${show(serviceType)}, but externalTrafficPolicy (set to Local for the clients' addresses) applies only to ${EXTERNAL_SERVICE_TYPES.join(' and ')} Services. Fix: remove service.type (k3s's chart uses LoadBalancer, served by ServiceLB).`);
  }
  return problems;
}

/** The package's own values: the required ones, as one mapping. */
export function packageValues(): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const { path, value } of REQUIRED_VALUES) {
    let node = values;
    for (const key of path.slice(0, -1)) {
      node = (node[key] ??= {}) as Record<string, unknown>;
    }
    node[path[path.length - 1]] = value;
  }
  return values;
}

/** `base` with `over` merged in: mappings key by key, anything else replaced by `over`'s. */
export function deepMerge(base: ChartValues, over: ChartValues): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] = isMapping(current) && isMapping(value) ? deepMerge(current, value) : value;
  }
  return merged;
}

/** The user's values with the package's merged in (validated first: none of the user's contradicts them). */
export function traefikValues(userValues: ChartValues = {}): Record<string, unknown> {
  return deepMerge(userValues, packageValues());
}

/** Values as the `valuesContent` YAML: keys sorted at every level, so that the same values give the same text. */
export function renderValuesContent(values: ChartValues): string {
  return stringify(values, { sortMapEntries: true, lineWidth: 0 });
}
