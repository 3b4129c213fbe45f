/**
 * k3s's packaged Traefik, configured for the Traefik jails (filters/traefik-auth-json-cri.conf): synth generates the
 * `HelmChartConfig` kube-system/traefik that turns Traefik's access log on, as JSON on stdout (the pod log the jail
 * reads), and sets the Service's `externalTrafficPolicy: Local`, so that Traefik sees the clients' addresses behind
 * ServiceLB (README: "k3s's Traefik").
 */
export interface K3sTraefikOptions {
  /**
   * Generate the `HelmChartConfig` kube-system/traefik. k3s takes one object of that name: a HelmChartConfig you
   * keep elsewhere (a file in /var/lib/rancher/k3s/server/manifests) must go, its values moved into `values`.
   * @default false (synth warns while an enabled jail reads Traefik's pod log)
   */
  readonly manageHelmChartConfig?: boolean;
  /**
   * Your own values of k3s's Traefik chart (what your HelmChartConfig's `valuesContent` held), deep-merged with the
   * package's: maps are merged key by key, anything else (lists too) is taken as you wrote it. A value that
   * contradicts what the jail needs (`logs.access.enabled`, `.format`, `.filePath`, the fields ClientAddr and
   * DownstreamStatus, `service.spec.externalTrafficPolicy`) is refused. The keys are the chart's as k3s ships it
   * (traefik/traefik-helm-chart v27 to v40: `logs.access`, `service.spec`).
   * @default none
   */
  readonly values?: Readonly<Record<string, unknown>>;
}

/** The HelmChart k3s deploys Traefik with (manifests/traefik.yaml): a HelmChartConfig must have its name and namespace. */
export const K3S_TRAEFIK = { name: 'traefik', namespace: 'kube-system' } as const;
