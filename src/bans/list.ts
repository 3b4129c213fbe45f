import { NodeReport, notReporting, staleSince } from './node-reports';
import { AddressRow, CappedList, JailBans, ListReport, NodeGap } from './report';
import { BansSettings } from './settings';

/** What one node holds of one jail: the jail's own bans, the operator's, and those shared by other nodes. */
interface NodeHolds {
  readonly node: string;
  readonly own: ReadonlySet<string>;
  readonly operator: ReadonlySet<string>;
  readonly mirrored: ReadonlySet<string>;
  /** No list was capped: an address it lacks is really missing there. */
  readonly complete: boolean;
}

function byAddress(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * One jail across the nodes, turned around: per address, where it is banned and where not. The operator jail and
 * the mirror hold bans of the same jail, so they count as banned too, marked as such.
 */
function jailBans(jail: string, reports: readonly NodeReport[], settings: BansSettings): JailBans {
  const operator = settings.operatorJails[jail];
  const mirror = settings.mirrors[jail];
  const listed = [jail, operator, mirror].filter((name): name is string => name !== undefined);
  const unreadable: NodeGap[] = [];
  const capped: CappedList[] = [];
  const holds: NodeHolds[] = [];
  for (const report of reports) {
    const absent = listed.filter((name) => report.jails[name] === undefined);
    if (absent.length > 0) {
      const why = report.error === undefined ? '' : ` (its error: ${report.error})`;
      unreadable.push({ node: report.node, reason: `its report has no list of ${absent.join(', ')}${why}` });
      continue;
    }
    const short = listed
      .map((name) => ({ node: report.node, jail: name, count: report.jails[name].count, listed: report.jails[name].addresses.length }))
      .filter((list) => list.count > list.listed);
    capped.push(...short);
    const set = (name: string | undefined) => new Set(name === undefined ? [] : report.jails[name].addresses);
    holds.push({ node: report.node, own: set(jail), operator: set(operator), mirrored: set(mirror), complete: short.length === 0 });
  }
  const union = new Set(holds.flatMap((node) => [...node.own, ...node.operator, ...node.mirrored]));
  const addresses = [...union].sort(byAddress).map((address): AddressRow => {
    const where = (test: (node: NodeHolds) => boolean) => holds.filter(test).map((node) => node.node);
    const holding = (node: NodeHolds) => node.own.has(address) || node.operator.has(address) || node.mirrored.has(address);
    return {
      address,
      bannedOn: where(holding),
      missingOn: where((node) => !holding(node) && node.complete),
      operatorOn: where((node) => !node.own.has(address) && node.operator.has(address)),
      mirroredOn: where((node) => !node.own.has(address) && !node.operator.has(address) && node.mirrored.has(address)),
      unknownOn: where((node) => !holding(node) && !node.complete),
    };
  });
  return { jail, ...(operator && { operator }), ...(mirror && { mirror }), addresses, unreadable, capped };
}

/** Reports whose agent is not reporting or says its report is incomplete: what they list may be out of date. */
function reportGaps(reports: readonly NodeReport[], now: number): NodeGap[] {
  return reports.flatMap((report) => {
    const since = staleSince(report, now);
    return [
      ...(since === undefined ? [] : [{ node: report.node, reason: `${notReporting(since)}: its lists may be out of date` }]),
      ...(report.error === undefined ? [] : [{ node: report.node, reason: `reports an error: ${report.error}` }]),
    ];
  });
}

/** `list` from one read of every node's report. */
export function listReport(reports: readonly NodeReport[], jails: readonly string[], settings: BansSettings, namespace: string, now: number): ListReport {
  return {
    namespace,
    nodes: reports.map((report) => report.node),
    jails: jails.map((jail) => jailBans(jail, reports, settings)),
    gaps: reportGaps(reports, now),
  };
}
