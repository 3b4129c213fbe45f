/** The Kubernetes recommended labels (app.kubernetes.io/*) of one application instance. */
export interface AppLabels {
  /** `app.kubernetes.io/name`. */
  readonly name: string;
  /** `app.kubernetes.io/instance`. */
  readonly instance: string;
  /** `app.kubernetes.io/version`. */
  readonly version: string;
  /** `app.kubernetes.io/component`. */
  readonly component: string;
  /** `app.kubernetes.io/part-of`. */
  readonly partOf: string;
}

/** Labels that select the pods: only ones that never change for the life of the DaemonSet (selectors are immutable). */
export function selectorLabels(app: AppLabels): Record<string, string> {
  return {
    'app.kubernetes.io/name': app.name,
    'app.kubernetes.io/instance': app.instance,
  };
}

/** Every recommended label, for every object and pod. */
export function recommendedLabels(app: AppLabels): Record<string, string> {
  return {
    ...selectorLabels(app),
    'app.kubernetes.io/version': app.version,
    'app.kubernetes.io/component': app.component,
    'app.kubernetes.io/part-of': app.partOf,
    'app.kubernetes.io/managed-by': 'cdk8s',
  };
}
