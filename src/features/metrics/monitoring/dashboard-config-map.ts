import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/** The label Grafana's dashboard sidecar (kube-prometheus-stack's default `sidecar.dashboards.label`) looks for. */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: '1' } as const;

/** Props of {@link GrafanaDashboardConfigMap}. */
export interface GrafanaDashboardConfigMapProps {
  readonly name: string;
  /** Where Grafana's sidecar looks (kube-prometheus-stack: its own namespace, unless `searchNamespace` says more). */
  readonly namespace: string;
  /** The package's labels and the stack's. */
  readonly labels: Readonly<Record<string, string>>;
  /** The file name in the ConfigMap: the sidecar writes it into Grafana's dashboards folder as is. */
  readonly fileName: string;
  /** The dashboard's JSON model. */
  readonly dashboard: Record<string, unknown>;
}

/**
 * A ConfigMap holding a Grafana dashboard for Grafana's sidecar. Annotated so that Flux's post-build variable
 * substitution, if a Kustomization turns it on, leaves the dashboard's `${datasource}` alone: envsubst would
 * replace it with an empty string and the panels would query nothing.
 */
export class GrafanaDashboardConfigMap extends Construct {
  constructor(scope: Construct, id: string, props: GrafanaDashboardConfigMapProps) {
    super(scope, id);
    new kplus.ConfigMap(this, 'Resource', {
      metadata: {
        name: props.name,
        namespace: props.namespace,
        labels: { ...props.labels, ...GRAFANA_DASHBOARD_LABEL },
        annotations: { 'kustomize.toolkit.fluxcd.io/substitute': 'disabled' },
      },
      data: { [props.fileName]: `${JSON.stringify(props.dashboard, null, 2)}\n` },
    });
  }
}
