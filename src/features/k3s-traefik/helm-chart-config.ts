import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { K3S_TRAEFIK } from './options';

/** Props of {@link K3sTraefikHelmChartConfig}. */
export interface K3sTraefikHelmChartConfigProps {
  readonly labels: Record<string, string>;
  /** The chart values as YAML, passed to helm as one more values file after the HelmChart's own. */
  readonly valuesContent: string;
}

/**
 * The `HelmChartConfig` (helm.cattle.io/v1, k3s's helm-controller) of k3s's packaged Traefik: it must have the
 * HelmChart's name and namespace, kube-system/traefik, wherever the package's other objects live.
 */
export class K3sTraefikHelmChartConfig extends Construct {
  constructor(scope: Construct, id: string, props: K3sTraefikHelmChartConfigProps) {
    super(scope, id);
    new ApiObject(this, 'Resource', {
      apiVersion: 'helm.cattle.io/v1',
      kind: 'HelmChartConfig',
      metadata: { name: K3S_TRAEFIK.name, namespace: K3S_TRAEFIK.namespace, labels: props.labels },
      spec: { valuesContent: props.valuesContent },
    });
  }
}
