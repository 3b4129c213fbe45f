// What the tests check the alerts' and the dashboard's PromQL against: the series the agent exposes
// (agent/metrics.json), and a scan of the series and labels an expression reads.
import * as fs from 'node:fs';
import { packagePath } from '../../src/model/package-path';

/** One series the node agent exposes, as agent/metrics.json writes it down. */
export interface CatalogSeries {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  /** The series' own labels; the scrape adds the target's (see {@link TARGET_LABELS}). */
  readonly labels: readonly string[];
  readonly help: string;
}

/** The agent's metrics (agent/metrics.json), which every expression of the alerts and the dashboard is checked against. */
export const METRIC_CATALOG: readonly CatalogSeries[] = JSON.parse(fs.readFileSync(packagePath('agent', 'metrics.json'), 'utf8')).series;

/**
 * Series Prometheus makes itself for every target, which the alerts and the dashboard may use besides the catalog's:
 * `up` is the only one that tells an agent that does not answer from one that answers "fail2ban is down".
 */
export const PROMETHEUS_SERIES: readonly string[] = ['up'];

/**
 * Labels every scraped series carries besides its own: those of a PodMonitor target (prometheus-operator's
 * `namespace`, `pod`, `container`, `endpoint`, `job`, `instance`) and the `node` the package's PodMonitor adds.
 */
export const TARGET_LABELS: readonly string[] = ['job', 'instance', 'namespace', 'pod', 'container', 'endpoint', 'node'];

/** The catalog entry of `name`, or undefined. */
export function catalogSeries(name: string): CatalogSeries | undefined {
  return METRIC_CATALOG.find((series) => series.name === name);
}

/** Words of PromQL that are not series names when they stand without a `(` after them. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/**
 * The series names an expression reads (in order, without repeats). A scan, not a parser: it drops string literals,
 * matchers' braces, ranges and label lists (`by (…)`, `on (…)`), then every identifier that is not a function call,
 * a keyword or part of a number or duration is a series name. Enough for the package's own expressions, which the
 * tests also parse with promtool.
 */
export function seriesNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of stripped.matchAll(/(?<![\w.$])[A-Za-z_:][\w:]*(?!\s*\()/g)) {
    // `(?!\s*\()` also stops a backtrack into a shorter name: require a full identifier.
    const end = (match.index ?? 0) + match[0].length;
    if (/[\w:]/.test(stripped[end] ?? '')) continue;
    if (!KEYWORDS.has(match[0].toLowerCase()) && !names.includes(match[0])) names.push(match[0]);
  }
  return names;
}

/** Label names in the matchers of each series an expression selects with braces: `f2b_up{node="a"}` → f2b_up: [node]. */
export function matcherLabels(expr: string): Array<{ series: string; labels: string[] }> {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  return [...withoutStrings.matchAll(/([A-Za-z_:][\w:]*)\s*\{([^}]*)\}/g)].map((match) => ({
    series: match[1],
    labels: [...match[2].matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((label) => label[1]),
  }));
}
