import * as fs from 'node:fs';
import { packagePath } from '../../../model/package-path';

/** One series the node agent exposes, as agent/metrics.json writes it down. */
export interface CatalogSeries {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  /** The series' own labels; the scrape adds the target's (see {@link TARGET_LABELS}). */
  readonly labels: readonly string[];
  readonly help: string;
}

/**
 * The agent's metrics, read from the catalog the exporter is written from (agent/metrics.json), so that an alert or
 * a panel can only name a series the agent really has: the tests check every expression against it.
 */
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
