import { setTimeout as sleep } from 'node:timers/promises';
import { ApiReach, ClusterError, nodeReportsPath, rawCall } from './api';
import { normalizeAddress } from './validate';

/** What a node's agent did with one order. */
export interface OrderResult {
  /**
   * The order's `metadata.uid`: which object the result is for (an order deleted and created again has the same name,
   * and may have the same generation). Absent in reports of older agents.
   */
  readonly uid?: string;
  /** The order's `metadata.generation` the result is for. */
  readonly generation: number;
  readonly result: 'changed' | 'unchanged' | 'refused';
  /** Why it was refused. */
  readonly detail?: string;
}

/** What a jail holds on a node: `addresses` is capped (the agent's MAX_LISTED), `count` is not. */
interface JailList {
  readonly count: number;
  readonly addresses: string[];
}

/** One `Fail2banNode`: a node's agent's report (docs/operator-bans.md). */
export interface NodeReport {
  readonly node: string;
  /** Absent when the report does not say (not yet, or malformed). */
  readonly reportedAt?: string;
  /** By order name. */
  readonly orders: Readonly<Record<string, OrderResult>>;
  /** By jail name. */
  readonly jails: Readonly<Record<string, JailList>>;
  /** Why the report is incomplete. */
  readonly error?: string;
}

/** An agent writes at least every HEARTBEAT_SECONDS (60): three missed heartbeats mean it is not reporting. */
const STALE_SECONDS = 180;
/** How often the reports are read again while a change waits for them. */
const POLL_MS = 250;

const RESULTS = new Set(['changed', 'unchanged', 'refused']);

function record(value: unknown): Record<string, any> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, any>) : {};
}

function orderResult(value: any): OrderResult | undefined {
  if (!Number.isInteger(value?.generation) || !RESULTS.has(value?.result)) {
    return undefined;
  }
  return {
    ...(typeof value.uid === 'string' && { uid: value.uid }),
    generation: value.generation,
    result: value.result,
    ...(typeof value.detail === 'string' && { detail: value.detail }),
  };
}

function jailList(value: any): JailList | undefined {
  if (!Number.isInteger(value?.count) || !Array.isArray(value?.addresses) || !value.addresses.every((a: unknown) => typeof a === 'string')) {
    return undefined;
  }
  return { count: value.count, addresses: value.addresses.map(normalizeAddress) };
}

function entries<T>(value: unknown, parse: (entry: any) => T | undefined): Record<string, T> {
  return Object.fromEntries(
    Object.entries(record(value))
      .map(([key, entry]) => [key, parse(entry)] as const)
      .filter((pair): pair is readonly [string, T] => pair[1] !== undefined),
  );
}

/** A report as far as it is well-formed: the CRD's schema holds for agents, a hand-edited object may be anything. */
function nodeReport(item: any): NodeReport {
  const status = record(item?.status);
  return {
    node: String(item?.metadata?.name),
    ...(typeof status.reportedAt === 'string' && !Number.isNaN(Date.parse(status.reportedAt)) && { reportedAt: status.reportedAt }),
    orders: entries(status.orders, orderResult),
    jails: entries(status.jails, jailList),
    ...(typeof status.error === 'string' && status.error !== '' && { error: status.error }),
  };
}

/** Every node's report, by node name: one LIST. */
export async function readNodeReports(reach: ApiReach): Promise<NodeReport[]> {
  const path = nodeReportsPath(reach);
  const list = await rawCall(reach, 'get', path);
  if (!Array.isArray(list?.items)) {
    throw new ClusterError(`kubectl get --raw ${path} printed JSON without an items list`);
  }
  return list.items.map(nodeReport).sort((a: NodeReport, b: NodeReport) => a.node.localeCompare(b.node));
}

/** When a report's agent last wrote, if that was more than STALE_SECONDS before `now` (or it never said). */
export function staleSince(report: NodeReport, now: number): string | undefined {
  if (report.reportedAt === undefined) {
    return 'never';
  }
  return now - Date.parse(report.reportedAt) > STALE_SECONDS * 1000 ? report.reportedAt : undefined;
}

/** A stale report in words. */
export function notReporting(since: string): string {
  return since === 'never' ? 'has never reported' : `has not reported since ${since} (its agent is down or cannot reach the API)`;
}

/** The last reports read, and why the last read failed if it did. */
export interface Polled {
  readonly reports?: NodeReport[];
  readonly failure?: string;
}

/**
 * Reads the reports again and again until `done` accepts them or `deadline` (epoch milliseconds) passes. A failed
 * read is tried again: a short hiccup of the API server should not fail a change that every node applied.
 */
export async function pollNodeReports(reach: ApiReach, deadline: number, done: (reports: NodeReport[]) => boolean): Promise<Polled> {
  let reports: NodeReport[] | undefined;
  for (;;) {
    let failure: string | undefined;
    try {
      reports = await readNodeReports(reach);
    } catch (error) {
      if (!(error instanceof ClusterError)) {
        throw error;
      }
      failure = error.message;
    }
    const left = deadline - Date.now();
    if ((failure === undefined && done(reports!)) || left <= 0) {
      return { reports, ...(failure !== undefined && { failure }) };
    }
    await sleep(Math.min(POLL_MS, left));
  }
}
