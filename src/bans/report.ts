import { BanAction } from './args';
import { OrderResult } from './node-reports';
import { WrittenOrder } from './orders';

/** What one node's agent reported for the order, or that it did not within the wait. */
export interface NodeOutcome {
  readonly node: string;
  readonly result: OrderResult['result'] | 'not reported';
  /** Why it was refused, or why there is no report. */
  readonly detail?: string;
}

/** The outcome of `ban` or `unban`. */
export interface ChangeReport {
  readonly action: BanAction;
  readonly namespace: string;
  readonly order: WrittenOrder;
  /** One per `Fail2banNode`, by node name. */
  readonly outcomes: NodeOutcome[];
  /** Why the last read of the reports failed, when it did. @default none */
  readonly readFailure?: string;
}

/** A node, and why what it says is incomplete or out of date. */
export interface NodeGap {
  readonly node: string;
  readonly reason: string;
}

/** A jail list a report cut short: `count` addresses held, `listed` shown. */
export interface CappedList {
  readonly node: string;
  readonly jail: string;
  readonly count: number;
  readonly listed: number;
}

/** One banned address of a jail and where it is (not) banned. */
export interface AddressRow {
  readonly address: string;
  /** Nodes holding it: in the jail, its operator jail or its mirror. */
  readonly bannedOn: string[];
  /** Nodes whose complete lists lack it: drift, e.g. a ban from one node's own logs. */
  readonly missingOn: string[];
  /** Nodes holding it only as an operator's order, in the operator jail. */
  readonly operatorOn: string[];
  /** Nodes holding it only as shared by another node, in the mirror (ban sharing). */
  readonly mirroredOn: string[];
  /** Nodes that lack it in a capped list: it may be among the addresses their report left out. */
  readonly unknownOn: string[];
}

/** One jail's bans across the nodes. */
export interface JailBans {
  readonly jail: string;
  /** The jail holding the operator's bans of it. @default none */
  readonly operator?: string;
  /** The jail holding the bans other nodes shared. @default none */
  readonly mirror?: string;
  /** The union of every node's lists. */
  readonly addresses: AddressRow[];
  /** Nodes whose report lacks one of the jail's lists. */
  readonly unreadable: NodeGap[];
  readonly capped: CappedList[];
}

/** The outcome of `list`. */
export interface ListReport {
  readonly namespace: string;
  /** Every node with a report, in column order. */
  readonly nodes: string[];
  readonly jails: JailBans[];
  /** Reports that are stale or carry an error. */
  readonly gaps: NodeGap[];
}

/** Every node reported the order as applied (changed or unchanged); none refused, none is silent. */
export function changeSucceeded(report: ChangeReport): boolean {
  return report.outcomes.length > 0 && report.outcomes.every((outcome) => outcome.result === 'changed' || outcome.result === 'unchanged');
}

function jailAgrees(jail: JailBans): boolean {
  return jail.unreadable.length === 0 && jail.addresses.every((row) => row.missingOn.length === 0);
}

export function listConsistent(report: ListReport): boolean {
  return report.nodes.length > 0 && report.gaps.length === 0 && report.jails.every(jailAgrees);
}

/** A titled block: an optional table, then sentences. Rendered for a terminal or as Markdown. */
interface Section {
  readonly title: string;
  readonly header?: string[];
  readonly rows?: string[][];
  readonly notes: string[];
}

/** Reports and the API carry text from elsewhere; a table row must stay one line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

function textTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  );
}

function markdownTable(header: string[], rows: string[][]): string[] {
  const cells = (row: string[]): string => `| ${row.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [cells(header), cells(header.map(() => '---')), ...rows.map(cells)];
}

function render(sections: Section[], markdown: boolean): string {
  return sections
    .map((section) => {
      const table = section.header && section.rows ? (markdown ? markdownTable : textTable)(section.header, section.rows) : [];
      const title = markdown ? `### ${section.title}` : section.title;
      // In Markdown, lines of one paragraph run together: each note is a paragraph of its own.
      const notes = markdown ? section.notes.map((note) => [note]) : [section.notes];
      const parts = [[title], table, ...notes].filter((part) => part.length > 0);
      return parts.map((part) => part.join('\n')).join(markdown ? '\n\n' : '\n');
    })
    .join('\n\n');
}

const RESULT_WORDS: Record<BanAction, Record<'changed' | 'unchanged', string>> = {
  ban: { changed: 'banned', unchanged: 'already banned' },
  unban: { changed: 'unbanned', unchanged: 'was not banned' },
};

function resultCell(action: BanAction, outcome: NodeOutcome): string {
  if (outcome.result === 'refused') {
    return `FAILED: ${oneLine(outcome.detail ?? 'refused')}`;
  }
  return outcome.result === 'not reported' ? 'not reported' : RESULT_WORDS[action][outcome.result];
}

/** What the order leaves in place: for how long a ban holds, or that the address is free. */
function orderState(report: ChangeReport): string {
  const { spec } = report.order;
  if (report.action === 'unban') {
    return 'not banned';
  }
  return spec.expires === undefined ? 'banned permanently' : `banned until ${spec.expires}`;
}

function orderNote(report: ChangeReport): string {
  const { order } = report;
  const how = order.created ? 'created' : 'replaced';
  const reason = order.spec.reason === undefined ? '' : `; reason: ${JSON.stringify(order.spec.reason)}`;
  return `Order: OperatorBan ${report.namespace}/${order.name}, generation ${order.generation} (${how}): ${report.action}${reason}.`;
}

function changeConclusion(report: ChangeReport): string {
  const { spec } = report.order;
  const named = (result: NodeOutcome['result']) => report.outcomes.filter((outcome) => outcome.result === result).map((outcome) => outcome.node);
  const applied = report.outcomes.filter((outcome) => outcome.result === 'changed' || outcome.result === 'unchanged').map((outcome) => outcome.node);
  if (report.outcomes.length === 0) {
    const why = report.readFailure === undefined ? `no Fail2banNode report is left in ${report.namespace}` : 'the reports could not be read';
    return `NOT CONFIRMED: ${why}. The order stays: every agent applies it when it runs.`;
  }
  if (changeSucceeded(report)) {
    return `Done: ${spec.ip} is ${orderState(report)} in jail ${spec.jail} on all ${applied.length} nodes (each node's agent reported it).`;
  }
  const refused = named('refused');
  const silent = named('not reported');
  const failures = [
    ...(refused.length > 0 ? [`refused on ${refused.join(', ')}`] : []),
    ...(silent.length > 0 ? [`not reported by ${silent.join(', ')}`] : []),
  ];
  return (
    `NOT COMPLETE: ${failures.join('; ')}. ${spec.ip} is ${orderState(report)} on ${applied.length > 0 ? applied.join(', ') : 'no node'}. ` +
    'The order stays: a node that was down applies it when it is back; for a refusal, fix what it says and run the same command again.'
  );
}

function changeSections(report: ChangeReport): Section[] {
  const details = report.outcomes
    .filter((outcome) => outcome.result === 'not reported')
    .map((outcome) => `${outcome.node}: ${oneLine(outcome.detail ?? '')}.`);
  const readFailure = report.readFailure === undefined ? [] : [`The last read of the reports failed: ${oneLine(report.readFailure)}.`];
  return [
    {
      title: `fail2ban ${report.action} ${report.order.spec.ip} in jail ${report.order.spec.jail}`,
      header: ['Node', 'Result'],
      rows: report.outcomes.map((outcome) => [outcome.node, resultCell(report.action, outcome)]),
      notes: [orderNote(report), ...details, ...readFailure, changeConclusion(report)],
    },
  ];
}

function legend(jail: JailBans): string[] {
  const operator = jail.addresses.some((row) => row.operatorOn.length > 0);
  const mirrored = jail.addresses.some((row) => row.mirroredOn.length > 0);
  if (!operator && !mirrored) {
    return [];
  }
  const parts = [
    `✓: banned by that node's own jail ${jail.jail}`,
    ...(operator ? [`operator: an operator's order (OperatorBan), held in ${jail.operator}`] : []),
    ...(mirrored ? [`mirrored: shared by another node, held in ${jail.mirror}`] : []),
  ];
  return [`${parts.join('; ')}.`];
}

function jailSection(jail: JailBans, nodes: string[]): Section {
  const unreadable = new Set(jail.unreadable.map((gap) => gap.node));
  const cell = (row: AddressRow, node: string): string => {
    if (unreadable.has(node) || row.unknownOn.includes(node)) {
      return '?';
    }
    return row.operatorOn.includes(node) ? 'operator' : row.mirroredOn.includes(node) ? 'mirrored' : row.bannedOn.includes(node) ? '✓' : '';
  };
  const drift = jail.addresses.filter((row) => row.missingOn.length > 0);
  const readable = nodes.filter((node) => !unreadable.has(node)).length;
  const notes = [
    ...(jail.addresses.length === 0 ? [readable > 0 ? 'No banned addresses.' : 'No node reported this jail.'] : []),
    ...legend(jail),
    ...jail.unreadable.map((gap) => `Could not read the ban list of ${gap.node}: ${oneLine(gap.reason)}.`),
    ...jail.capped.map(
      (list) => `${list.node} holds ${list.count} addresses in ${list.jail}; its report lists ${list.listed} of them: '?' marks an address that may be among the rest.`,
    ),
    ...drift.map(
      (row) =>
        `Nodes disagree on ${row.address}: banned on ${row.bannedOn.join(', ')}, not on ${row.missingOn.join(', ')}. ` +
        `Make them agree with \`npm run bans -- ban --jail ${jail.jail} --ip ${row.address}\` (or unban).`,
    ),
  ];
  const table =
    jail.addresses.length === 0
      ? {}
      : {
          header: ['Address', ...nodes, 'Missing on'],
          rows: jail.addresses.map((row) => [row.address, ...nodes.map((node) => cell(row, node)), row.missingOn.join(', ')]),
        };
  const where = readable === nodes.length ? `${nodes.length} node(s)` : `the ${readable} of ${nodes.length} node(s) that reported it`;
  return { title: `Jail ${jail.jail}: ${jail.addresses.length} banned address(es) on ${where}`, ...table, notes };
}

function listConclusion(report: ListReport): string {
  if (listConsistent(report)) {
    return `All ${report.nodes.length} nodes agree.`;
  }
  const disagreeing = report.jails.filter((jail) => !jailAgrees(jail)).map((jail) => jail.jail);
  const parts = [
    ...(report.gaps.length > 0 ? [`reports out of date or with an error: ${[...new Set(report.gaps.map((gap) => gap.node))].join(', ')}`] : []),
    ...(disagreeing.length > 0 ? [`jails where nodes disagree or a list is missing: ${disagreeing.join(', ')}`] : []),
  ];
  return `NOT CONSISTENT: ${parts.join('; ')}.`;
}

function listSections(report: ListReport): Section[] {
  const gapNotes = report.gaps.map((gap) => `${gap.node} ${oneLine(gap.reason)}.`);
  return [...report.jails.map((jail) => jailSection(jail, report.nodes)), { title: 'Result', notes: [...gapNotes, listConclusion(report)] }];
}

/** `ban`/`unban` for a terminal. */
export function changeText(report: ChangeReport): string {
  return render(changeSections(report), false);
}

/** `ban`/`unban` for a GitHub job summary. */
export function changeMarkdown(report: ChangeReport): string {
  return render(changeSections(report), true);
}

/** `list` for a terminal. */
export function listText(report: ListReport): string {
  return render(listSections(report), false);
}

/** `list` for a GitHub job summary. */
export function listMarkdown(report: ListReport): string {
  return render(listSections(report), true);
}

/** `list --json`: the report as data, with the overall verdict. */
export function listJson(report: ListReport): string {
  return JSON.stringify({ consistent: listConsistent(report), ...report }, null, 2);
}
