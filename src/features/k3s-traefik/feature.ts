import { Fail2banFeature, ResolvedCore } from '../feature';
import { JailProps } from '../../model/jail';
import { workloadKindOf } from '../../model/pod-log';
import { K3sTraefikHelmChartConfig } from './helm-chart-config';
import { K3S_TRAEFIK, K3sTraefikOptions } from './options';
import { checkValues, isMapping, renderValuesContent, traefikValues } from './values';

/** Enabled jails on the pod log of k3s's Traefik (kube-system/traefik). */
function traefikJails(config: ResolvedCore): JailProps[] {
  return config.jails.filter((jail) => (jail.enabled ?? true) && jail.podLogs?.namespace === K3S_TRAEFIK.namespace && jail.podLogs.workload === K3S_TRAEFIK.name);
}

/** The Traefik jails must find the pods of the workload kind the chart makes (`deployment.kind`, Deployment unless set). */
function checkWorkloadKind(options: K3sTraefikOptions, config: ResolvedCore): string[] {
  const deployment = options.values?.deployment;
  const kind = isMapping(deployment) && typeof deployment.kind === 'string' ? deployment.kind : 'Deployment';
  return traefikJails(config).flatMap((jail) => {
    const looksFor = workloadKindOf(jail.podLogs!);
    return looksFor === kind
      ? []
      : [`jail "${jail.name}": podLogs.workloadKind is '${looksFor}', but Traefik runs as a ${kind} (k3sTraefik.values.deployment.kind${deployment === undefined ? ' unset' : ''}): the node agent would look for pods named like a ${looksFor}'s, find none, and the jail would read nothing. Fix: set podLogs.workloadKind: '${kind}'.`];
  });
}

function unmanagedWarnings(options: K3sTraefikOptions, config: ResolvedCore): string[] {
  const jails = traefikJails(config).map((jail) => `"${jail.name}"`);
  return [
    ...(jails.length === 0
      ? []
      : [`${jails.length === 1 ? 'jail' : 'jails'} ${jails.join(', ')} ${jails.length === 1 ? 'reads' : 'read'} the pod log of k3s's Traefik (kube-system/traefik), but the package does not manage Traefik's HelmChartConfig: unless yours sets them, Traefik writes no JSON access log and sees no client address, and nothing is banned. Fix: set k3sTraefik: { manageHelmChartConfig: true } (and move your HelmChartConfig's values into k3sTraefik.values), or set in your HelmChartConfig logs.access.enabled: true and logs.access.format: json (no logs.access.filePath: on stdout) and service.spec.externalTrafficPolicy: Local.`]),
    ...(options.values === undefined
      ? []
      : ['k3sTraefik.values is set, but k3sTraefik.manageHelmChartConfig is not: the values go nowhere. Fix: set manageHelmChartConfig: true, or remove values.']),
  ];
}

/**
 * k3s's packaged Traefik, set up for the Traefik jails (README: "k3s's Traefik"): with `manageHelmChartConfig`, the
 * `HelmChartConfig` kube-system/traefik with the access log as JSON on stdout and `externalTrafficPolicy: Local`,
 * merged with the user's own values; without it, a warning while an enabled jail reads Traefik's pod log. Always on.
 */
export function k3sTraefikFeature(options: K3sTraefikOptions = {}): Fail2banFeature {
  const managed = options.manageHelmChartConfig ?? false;
  return {
    name: 'k3sTraefik',
    validate: (config) => (managed ? [...checkValues(options.values ?? {}), ...checkWorkloadKind(options, config)] : []),
    warnings: (config) => (managed ? [] : unmanagedWarnings(options, config)),
    build: ({ scope }, config) => {
      if (managed) {
        new K3sTraefikHelmChartConfig(scope, 'K3sTraefik', { labels: config.labels, valuesContent: renderValuesContent(traefikValues(options.values)) });
      }
    },
  };
}
