import { VolumeMount, describeToleration, describeVolumeSource, mountMode } from '../../read/daemon-set';
import { CONTAINER_DB_DIR } from '../../k8s/daemon-set';
import { DeploymentFacts } from './facts';
import { code, table } from './markdown';

/** `every node (tolerates …)`: a DaemonSet runs on each node whose taints its pods tolerate. */
function nodesCovered(facts: DeploymentFacts): string {
  const tolerations = facts.daemonSet.spec.template.spec.tolerations ?? [];
  return tolerations.length === 0
    ? 'every node without taints'
    : `every node (tolerates ${tolerations.map((t) => code(describeToleration(t))).join(', ')})`;
}

function fluxRow(facts: DeploymentFacts): string[][] {
  const flux = facts.flux;
  if (flux === undefined) {
    return [];
  }
  const every = flux.interval === undefined ? '' : `, reconciled every ${flux.interval}`;
  return [['Flux Kustomization', `${code(flux.name)} (namespace ${code(flux.namespace)}, in ${code(flux.file)}): path ${code(flux.path)}${every}`]];
}

/** The Overview table: where fail2ban runs, from what, and what keeps its state. */
export function overviewTable(facts: DeploymentFacts): string {
  const filters = facts.filters.length === 1 ? '1 filter' : `${facts.filters.length} filters`;
  return table(
    ['Item', 'Value'],
    [
      ['Namespace', code(facts.namespace)],
      ['Workload', `DaemonSet ${code(facts.daemonSet.metadata?.name ?? '')}: one pod per node`],
      ['Image', code(facts.container.image ?? '(none)')],
      ['Nodes covered', nodesCovered(facts)],
      ['Configuration', `ConfigMap ${code(facts.configMapName)}: ${code('jail.local')} and ${filters}`],
      ['Time zone', facts.timeZone === undefined ? 'the image default' : `${code(facts.timeZone)} (${code('TZ')}; must be the hosts' zone)`],
      [
        'Ban database',
        facts.databaseHostPath === undefined
          ? 'inside the container: lost on every restart'
          : `host ${code(facts.databaseHostPath)} → ${code(CONTAINER_DB_DIR)}, per node; bans survive restarts`,
      ],
      ...fluxRow(facts),
    ],
  );
}

function source(facts: DeploymentFacts, mount: VolumeMount): string {
  const volume = facts.volumes.get(mount.name);
  const from = volume ? describeVolumeSource(volume, code) : `volume ${code(mount.name)}`;
  return mount.subPath === undefined ? from : `${from} key ${code(mount.subPath)}`;
}

function mode(mount: VolumeMount): string {
  const subPath = mount.subPath === undefined ? '' : 'subPath, ';
  const note = mount.mountPath === CONTAINER_DB_DIR ? ' (ban database)' : '';
  return `${subPath}${mountMode(mount)}${note}`;
}

/** The Volumes table: every mount of the fail2ban container, in the DaemonSet's order. */
export function volumesTable(facts: DeploymentFacts): string {
  const mounts = facts.container.volumeMounts ?? [];
  return table(
    ['Mount path (container)', 'Source', 'Mode'],
    mounts.map((mount) => [code(mount.mountPath), source(facts, mount), mode(mount)]),
  );
}
