import { appendFileSync } from 'node:fs';
import { ApiReach, ClusterError } from './api';
import { BANS_USAGE, BansCommand, ChangeCommand, parseCommand } from './args';
import { KubectlRunner } from './kubectl';
import { listReport } from './list';
import { NodeReport, notReporting, pollNodeReports, readNodeReports, staleSince } from './node-reports';
import { WrittenOrder, writeOrder } from './orders';
import { changeMarkdown, ChangeReport, changeSucceeded, changeText, listConsistent, listJson, listMarkdown, listText, NodeOutcome } from './report';
import { BansSettings } from './settings';
import { BansUsageError } from './validate';

/** Where the CLI reaches the cluster and writes; tests pass their own. */
export interface BansDeps {
  readonly kubectl: KubectlRunner;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** `$GITHUB_STEP_SUMMARY`: a Markdown copy of the result is appended to it. */
  readonly summaryFile?: string;
}

type ListCommand = Extract<BansCommand, { kind: 'list' }>;

/**
 * One API call may take this long even with a shorter `--timeout`, which bounds the wait for the reports: killing a
 * write on a slow API server would leave it unknown whether it happened.
 */
const MIN_CALL_SECONDS = 10;

function appendSummary(deps: BansDeps, markdown: string): void {
  if (deps.summaryFile === undefined) {
    return;
  }
  try {
    appendFileSync(deps.summaryFile, `${markdown}\n\n`);
  } catch (error) {
    deps.err(`could not append to the job summary ${deps.summaryFile}: ${(error as Error).message}`);
  }
}

/** A run that ends before any report could be shown: said on stderr and in the job summary. */
function stop(deps: BansDeps, message: string): number {
  deps.err(`bans: ${message}`);
  appendSummary(deps, `**bans:** ${message}`);
  return 1;
}

function noReports(place: ApiReach): string {
  return `no Fail2banNode in namespace ${place.namespace}: no node agent has reported (is fail2ban deployed there, and are its agents running?)`;
}

/**
 * The node has reported this order, or a later version of it: the same object (uid), at this generation or a later
 * one. An entry of an order of the same name deleted meanwhile (another uid) is not about this one.
 */
function reported(report: NodeReport, order: WrittenOrder): boolean {
  const entry = report.orders[order.name];
  return entry !== undefined && entry.uid === order.uid && entry.generation >= order.generation;
}

function outcome(report: NodeReport, order: WrittenOrder, command: ChangeCommand, now: number): NodeOutcome {
  if (reported(report, order)) {
    const { result, detail } = report.orders[order.name];
    return { node: report.node, result, ...(detail !== undefined && { detail }) };
  }
  const since = staleSince(report, now);
  const silence = `did not report within ${command.timeoutSeconds} s; it applies the order when it is back`;
  return { node: report.node, result: 'not reported', detail: since === undefined ? silence : `${notReporting(since)}; ${silence}` };
}

/**
 * Writes the order, then waits until every node's agent reports it applied: exit 0 only then. The nodes are those
 * with a report; nothing else of the cluster is read.
 */
async function runChange(deps: BansDeps, command: ChangeCommand, reach: ApiReach): Promise<number> {
  try {
    // Without any report, no agent would confirm the order: a wrong namespace, or no agents; write nothing.
    if ((await readNodeReports(reach)).length === 0) {
      return stop(deps, `${noReports(reach)}. Nothing was written.`);
    }
  } catch (error) {
    if (error instanceof ClusterError) {
      return stop(deps, `${error.message}. Nothing was written.`);
    }
    throw error;
  }
  let order: WrittenOrder;
  try {
    order = await writeOrder(reach, command, Date.now());
  } catch (error) {
    if (error instanceof ClusterError) {
      // A call that timed out may still have reached the API server.
      return stop(deps, `${error.message}. The order may not be written: running the same command again is safe (it replaces the order).`);
    }
    throw error;
  }
  const deadline = Date.now() + command.timeoutSeconds * 1000;
  const polled = await pollNodeReports(reach, deadline, (reports) => reports.length > 0 && reports.every((report) => reported(report, order)));
  const now = Date.now();
  const report: ChangeReport = {
    action: command.kind,
    namespace: reach.namespace,
    order,
    outcomes: (polled.reports ?? []).map((nodeReport) => outcome(nodeReport, order, command, now)),
    ...(polled.failure !== undefined && { readFailure: polled.failure }),
  };
  deps.out(changeText(report));
  appendSummary(deps, changeMarkdown(report));
  return changeSucceeded(report) ? 0 : 1;
}

/** One read of every node's report: what each jail holds where. */
async function runList(deps: BansDeps, command: ListCommand, reach: ApiReach, config: BansSettings): Promise<number> {
  let reports: NodeReport[];
  try {
    reports = await readNodeReports(reach);
  } catch (error) {
    if (error instanceof ClusterError) {
      return stop(deps, error.message);
    }
    throw error;
  }
  if (reports.length === 0) {
    return stop(deps, `${noReports(reach)}.`);
  }
  const report = listReport(reports, command.jails, config, reach.namespace, Date.now());
  deps.out(command.json ? listJson(report) : listText(report));
  appendSummary(deps, listMarkdown(report));
  return listConsistent(report) ? 0 : 1;
}

/**
 * `npm run bans -- list|ban|unban …`: validates everything first (exit 2, no kubectl call), then works only through
 * `OperatorBan` orders and `Fail2banNode` reports (docs/operator-bans.md).
 */
export async function runBans(argv: string[], config: BansSettings, deps: BansDeps): Promise<number> {
  let command: BansCommand;
  try {
    command = parseCommand(argv, config);
  } catch (error) {
    if (error instanceof BansUsageError) {
      deps.err(`bans: ${error.message}\nNothing was sent. Usage: npm run bans -- --help`);
      return 2;
    }
    throw error;
  }
  if (command.kind === 'help') {
    deps.out(BANS_USAGE);
    return 0;
  }
  const reach = { kubectl: deps.kubectl, group: config.group, namespace: command.namespace, callSeconds: Math.max(command.timeoutSeconds, MIN_CALL_SECONDS) };
  return command.kind === 'list' ? runList(deps, command, reach, config) : runChange(deps, command, reach);
}
