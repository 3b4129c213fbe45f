import { appendFileSync } from 'node:fs';
import { BANS_USAGE, BansCommand, parseCommand } from './args';
import { BansSettings, labelSelector } from './settings';
import { coverage, Coverage, NodeGap, PodTarget } from './coverage';
import { BanAction, banListArgs, changeArgs, parseBanList, parseChangeCount } from './fail2ban-client';
import { callFailure, ClusterError, deleteBanRecord, execFail2banClient, getNodes, getPods, KubectlRunner } from './kubectl';
import {
  changeMarkdown,
  ChangeOutcome,
  ChangeReport,
  changeSucceeded,
  changeText,
  JailBans,
  listConsistent,
  listJson,
  listMarkdown,
  ListReport,
  listText,
} from './report';
import { BansUsageError } from './validate';

/** Where the CLI reaches the cluster and writes; tests pass their own. */
export interface BansDeps {
  readonly kubectl: KubectlRunner;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** `$GITHUB_STEP_SUMMARY`: a Markdown copy of the result is appended to it. */
  readonly summaryFile?: string;
}

type ClusterCommand = Exclude<BansCommand, { kind: 'help' }>;
type ChangeCommand = Extract<BansCommand, { kind: BanAction }>;
type ListCommand = Extract<BansCommand, { kind: 'list' }>;

/** A pod's ban list, or why it could not be read. */
type BanListRead = { readonly addresses: string[] } | { readonly failure: string };

async function discover(deps: BansDeps, command: ClusterCommand, config: BansSettings): Promise<Coverage> {
  const [nodes, pods] = await Promise.all([
    getNodes(deps.kubectl, command.timeoutSeconds),
    getPods(deps.kubectl, command.namespace, labelSelector(config.selector), command.timeoutSeconds),
  ]);
  return coverage(nodes, pods);
}

function fail2banClient(deps: BansDeps, command: ClusterCommand, pod: string, args: string[]) {
  return execFail2banClient(deps.kubectl, command.namespace, pod, args, command.timeoutSeconds);
}

async function readBanList(deps: BansDeps, command: ClusterCommand, pod: string, jail: string): Promise<BanListRead> {
  const result = await fail2banClient(deps, command, pod, banListArgs(jail));
  const failure = callFailure(result);
  return failure === undefined ? { addresses: parseBanList(result.stdout) } : { failure };
}

/** Changes one pod, then reads its list back: the count fail2ban prints alone does not prove the ban is in place. */
async function changeOnPod(deps: BansDeps, command: ChangeCommand, target: PodTarget, jail: string = command.jail): Promise<ChangeOutcome> {
  const failed = (detail: string): ChangeOutcome => ({ ...target, result: 'failed', detail: jail === command.jail ? detail : `${jail}: ${detail}` });
  const result = await fail2banClient(deps, command, target.pod, changeArgs(command.kind, jail, command.address));
  const failure = callFailure(result);
  if (failure !== undefined) {
    return failed(failure);
  }
  let count: number;
  try {
    count = parseChangeCount(result.stdout);
  } catch (error) {
    return failed((error as Error).message);
  }
  const after = await readBanList(deps, command, target.pod, jail);
  if ('failure' in after) {
    return failed(`changed, but the ban list could not be read back (${after.failure})`);
  }
  const banned = after.addresses.includes(command.address);
  if (banned !== (command.kind === 'ban')) {
    return failed(`fail2ban answered ${count}, but the ban list read back ${banned ? 'still has' : 'lacks'} ${command.address}`);
  }
  return { ...target, result: count > 0 ? 'changed' : 'unchanged' };
}

function byNode<T extends { readonly node: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => a.node.localeCompare(b.node));
}

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

/** One outcome per node for changes to several jails: failed if any failed, changed if any changed. */
function combine(outcomes: ChangeOutcome[]): ChangeOutcome {
  return outcomes.find((o) => o.result === 'failed') ?? outcomes.find((o) => o.result === 'changed') ?? outcomes[0];
}

/** Deletes every node's ledger record of a shared ban: what happened, as a note, and whether it failed. */
async function deleteSharedRecords(deps: BansDeps, command: ChangeCommand, ledger: NonNullable<BansSettings['ledger']>, nodes: readonly string[]): Promise<{ note: string; failed: boolean }> {
  const names = [...new Set(nodes)].sort().map((node) => ledger.recordName(command.jail, command.address, node));
  const failure = await deleteBanRecord(deps.kubectl, command.namespace, ledger.group, names, command.timeoutSeconds);
  return failure === undefined
    ? { note: `Shared ban records ${names.join(', ')} deleted (or there were none): no node applies them again.`, failed: false }
    : { note: `FAILED to delete the shared ban records ${names.join(', ')}: ${failure}`, failed: true };
}

async function runChange(deps: BansDeps, command: ChangeCommand, reached: Coverage, config: BansSettings): Promise<number> {
  // Unbanning a shared jail's address deletes its ledger record first, so that no agent applies it again, and
  // then unbans it on every node from the jail and from its mirror.
  const mirror = command.kind === 'unban' ? config.mirrors[command.jail] : undefined;
  const nodes = [...reached.targets.map((target) => target.node), ...reached.gaps.map((gap) => gap.node), ...reached.cordoned];
  const record = mirror && config.ledger ? await deleteSharedRecords(deps, command, config.ledger, nodes) : undefined;
  const jails = mirror ? [command.jail, mirror] : [command.jail];
  const outcomes = await Promise.all(
    reached.targets.map(async (target) => combine(await Promise.all(jails.map((jail) => changeOnPod(deps, command, target, jail))))),
  );
  const missing = reached.gaps.map((gap): ChangeOutcome => ({ node: gap.node, result: 'failed', detail: gap.reason }));
  const report: ChangeReport = {
    action: command.kind,
    jail: command.jail,
    address: command.address,
    outcomes: byNode([...outcomes, ...missing]),
    cordoned: reached.cordoned,
    notes: record ? [record.note] : [],
  };
  deps.out(changeText(report));
  appendSummary(deps, changeMarkdown(report));
  return changeSucceeded(report) && !record?.failed ? 0 : 1;
}

/** A pod's lists of a jail and, with ban sharing, of its mirror. */
interface JailRead {
  readonly target: PodTarget;
  readonly read: BanListRead;
  readonly mirror?: BanListRead;
}

/**
 * One jail's lists from every pod, turned around: per address, the nodes that ban it and the ones that do not. A
 * shared jail counts its mirror's bans too, marked as mirrored: a node holds another node's ban there.
 */
function jailBans(jail: string, reads: JailRead[], mirror: string | undefined): JailBans {
  const answered: { node: string; addresses: string[]; mirrored: string[] }[] = [];
  const unreadable: NodeGap[] = [];
  for (const { target, read, mirror } of reads) {
    const unreadableRead = [read, mirror].find((r): r is { failure: string } => r !== undefined && 'failure' in r);
    if (unreadableRead || 'failure' in read) {
      unreadable.push({ node: target.node, reason: unreadableRead?.failure ?? '' });
      continue;
    }
    const mirrored = mirror && 'addresses' in mirror ? mirror.addresses.filter((a) => !read.addresses.includes(a)) : [];
    answered.push({ node: target.node, addresses: [...read.addresses, ...mirrored], mirrored });
  }
  const union = [...new Set(answered.flatMap((node) => node.addresses))];
  const addresses = union
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((address) => ({
      address,
      bannedOn: answered.filter((node) => node.addresses.includes(address)).map((node) => node.node),
      missingOn: answered.filter((node) => !node.addresses.includes(address)).map((node) => node.node),
      mirroredOn: answered.filter((node) => node.mirrored.includes(address)).map((node) => node.node),
    }));
  return { jail, addresses, unreadable, ...(mirror && { mirror }) };
}

async function runList(deps: BansDeps, command: ListCommand, reached: Coverage, config: BansSettings): Promise<number> {
  const reads = await Promise.all(
    command.jails.flatMap((jail) =>
      reached.targets.map(async (target) => {
        const mirror = config.mirrors[jail];
        const [read, mirrorRead] = await Promise.all([
          readBanList(deps, command, target.pod, jail),
          mirror === undefined ? undefined : readBanList(deps, command, target.pod, mirror),
        ]);
        return { jail, target, read, mirror: mirrorRead };
      }),
    ),
  );
  const report: ListReport = {
    nodes: reached.targets.map((target) => target.node),
    jails: command.jails.map((jail) => jailBans(jail, reads.filter((read) => read.jail === jail), config.mirrors[jail])),
    gaps: reached.gaps,
    cordoned: reached.cordoned,
  };
  deps.out(command.json ? listJson(report) : listText(report));
  appendSummary(deps, listMarkdown(report));
  return listConsistent(report) ? 0 : 1;
}

/**
 * `npm run bans -- list|ban|unban …`: validates everything first (exit 2, no kubectl call), then asks every
 * fail2ban pod in parallel. Exit 0 only when every schedulable node took part and agrees.
 */
export async function runBans(argv: string[], config: BansSettings, deps: BansDeps): Promise<number> {
  let command: BansCommand;
  try {
    command = parseCommand(argv, config);
  } catch (error) {
    if (error instanceof BansUsageError) {
      deps.err(`bans: ${error.message}\nNothing was run. Usage: npm run bans -- --help`);
      return 2;
    }
    throw error;
  }
  if (command.kind === 'help') {
    deps.out(BANS_USAGE);
    return 0;
  }
  let reached: Coverage;
  try {
    reached = await discover(deps, command, config);
  } catch (error) {
    if (error instanceof ClusterError) {
      deps.err(`bans: ${error.message}. Nothing was changed.`);
      return 1;
    }
    throw error;
  }
  return command.kind === 'list' ? runList(deps, command, reached, config) : runChange(deps, command, reached, config);
}
