import { NodeGap } from './coverage';
import { BanAction } from './fail2ban-client';

/** What a ban or unban did on one node: `changed`/`unchanged` are verified by reading the ban list back. */
export interface ChangeOutcome {
  readonly node: string;
  /** Absent when the node has no pod to ask. */
  readonly pod?: string;
  readonly result: 'changed' | 'unchanged' | 'failed';
  /** Why it failed. */
  readonly detail?: string;
}

/** The outcome of `ban` or `unban` on every node. */
export interface ChangeReport {
  readonly action: BanAction;
  readonly jail: string;
  readonly address: string;
  readonly outcomes: ChangeOutcome[];
  readonly cordoned: string[];
  /** What happened to the ban's shared ledger record, with ban sharing. @default none */
  readonly notes?: string[];
}

/** One banned address of a jail and where it is (not) banned. */
export interface AddressRow {
  readonly address: string;
  readonly bannedOn: string[];
  /** Nodes that answered and do not ban it: drift, e.g. after a node was down during a ban. */
  readonly missingOn: string[];
  /** Nodes that hold it only in the mirror jail: shared by another node (ban sharing). @default none */
  readonly mirroredOn?: string[];
}

/** One jail's bans across the nodes. */
export interface JailBans {
  readonly jail: string;
  /** The union of every node's list. */
  readonly addresses: AddressRow[];
  /** Nodes whose list could not be read. */
  readonly unreadable: NodeGap[];
  /** The jail holding the bans other nodes shared, when there is one. @default none */
  readonly mirror?: string;
}

/** The outcome of `list`. */
export interface ListReport {
  /** The nodes asked (one per ready pod), in column order. */
  readonly nodes: string[];
  readonly jails: JailBans[];
  readonly gaps: NodeGap[];
  readonly cordoned: string[];
}

/** At least one node, and no failure: a cluster without any fail2ban pod is no success. */
export function changeSucceeded(report: ChangeReport): boolean {
  return report.outcomes.length > 0 && report.outcomes.every((outcome) => outcome.result !== 'failed');
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

/** Output of remote commands may carry line breaks or control characters; a table row must stay one line. */
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

function resultCell(action: BanAction, outcome: ChangeOutcome): string {
  return outcome.result === 'failed' ? `FAILED: ${oneLine(outcome.detail ?? '')}` : RESULT_WORDS[action][outcome.result];
}

function cordonedNote(cordoned: string[]): string[] {
  return cordoned.length > 0 ? [`Not checked: ${cordoned.join(', ')} (cordoned, no ready fail2ban pod).`] : [];
}

function changeConclusion(report: ChangeReport): string {
  const state = report.action === 'ban' ? 'banned' : 'not banned';
  const failed = report.outcomes.filter((outcome) => outcome.result === 'failed').map((outcome) => outcome.node);
  const applied = report.outcomes.filter((outcome) => outcome.result !== 'failed').map((outcome) => outcome.node);
  if (report.outcomes.length === 0) {
    return 'NOT DONE: no node to run on (the cluster lists no node that is not cordoned).';
  }
  if (failed.length === 0) {
    return `Done: ${report.address} is ${state} in jail ${report.jail} on all ${applied.length} nodes (read back from each).`;
  }
  return (
    `NOT COMPLETE: failed on ${failed.join(', ')}. ` +
    `${report.address} is ${state} on ${applied.length > 0 ? applied.join(', ') : 'no node'}. ` +
    'Fix the failed nodes, then run the same command again: nodes that are already right are left as they are.'
  );
}

function changeSections(report: ChangeReport): Section[] {
  return [
    {
      title: `fail2ban ${report.action} ${report.address} in jail ${report.jail}`,
      header: ['Node', 'Pod', 'Result'],
      rows: report.outcomes.map((outcome) => [outcome.node, outcome.pod ?? '-', resultCell(report.action, outcome)]),
      notes: [...(report.notes ?? []), ...cordonedNote(report.cordoned), changeConclusion(report)],
    },
  ];
}

function jailSection(jail: JailBans, nodes: string[]): Section {
  const unreadable = new Set(jail.unreadable.map((gap) => gap.node));
  const cell = (row: AddressRow, node: string): string =>
    unreadable.has(node) ? '?' : row.mirroredOn?.includes(node) ? 'mirrored' : row.bannedOn.includes(node) ? '✓' : '';
  const shared = jail.addresses.some((row) => (row.mirroredOn ?? []).length > 0);
  const drift = jail.addresses.filter((row) => row.missingOn.length > 0);
  const answered = nodes.filter((node) => !unreadable.has(node)).length;
  const notes = [
    ...(jail.addresses.length === 0 ? [answered > 0 ? 'No banned addresses.' : 'No node answered.'] : []),
    ...(shared ? [`✓: banned by that node's own jail (origin); mirrored: shared by another node, held in ${jail.mirror}.`] : []),
    ...jail.unreadable.map((gap) => `Could not read the ban list of ${gap.node}: ${oneLine(gap.reason)}.`),
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
  const where = answered === nodes.length ? `${nodes.length} node(s)` : `the ${answered} of ${nodes.length} node(s) that answered`;
  return { title: `Jail ${jail.jail}: ${jail.addresses.length} banned address(es) on ${where}`, ...table, notes };
}

function listConclusion(report: ListReport): string {
  if (listConsistent(report)) {
    return `All ${report.nodes.length} nodes agree.`;
  }
  const disagreeing = report.jails.filter((jail) => !jailAgrees(jail)).map((jail) => jail.jail);
  const parts = [
    ...(report.nodes.length === 0 ? ['no fail2ban pod answered'] : []),
    ...(report.gaps.length > 0 ? [`nodes without a ready fail2ban pod: ${report.gaps.map((gap) => gap.node).join(', ')}`] : []),
    ...(disagreeing.length > 0 ? [`jails where nodes disagree or did not answer: ${disagreeing.join(', ')}`] : []),
  ];
  return `NOT CONSISTENT: ${parts.join('; ')}.`;
}

function listSections(report: ListReport): Section[] {
  const gapNotes = report.gaps.map((gap) => `No ready fail2ban pod on ${gap.node} (${oneLine(gap.reason)}): its bans are unknown.`);
  return [
    ...report.jails.map((jail) => jailSection(jail, report.nodes)),
    { title: 'Result', notes: [...gapNotes, ...cordonedNote(report.cordoned), listConclusion(report)] },
  ];
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
