import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import { renderDuration } from '../model/duration';

/** The Flux source a Kustomization reads. */
export interface FluxSourceRef {
  /** Source kind. */
  readonly kind: 'GitRepository' | 'OCIRepository' | 'Bucket';
  /** Source name. */
  readonly name: string;
  /** Source namespace. @default the Kustomization's */
  readonly namespace?: string;
}

/** An object whose readiness decides whether a reconcile succeeded. */
export interface FluxHealthCheck {
  /** API version of the object. */
  readonly apiVersion: string;
  /** Kind of the object. */
  readonly kind: string;
  /** Name of the object. */
  readonly name: string;
  /** Namespace of the object. */
  readonly namespace: string;
}

/** Props of {@link FluxKustomization}. */
export interface FluxKustomizationProps {
  /** Path in the source that Flux builds, e.g. `./k3s/manifests/fail2ban`. */
  readonly path: string;
  /** Objects that must become ready for a reconcile to count as applied. */
  readonly healthChecks: FluxHealthCheck[];
  /** Kustomization name. @default 'fail2ban' */
  readonly name?: string;
  /** Namespace of the Kustomization. @default 'flux-system' */
  readonly namespace?: string;
  /** The source. @default the GitRepository 'flux-system' that `flux bootstrap` creates */
  readonly sourceRef?: FluxSourceRef;
  /** How often Flux reconciles when nothing was pushed. @default 10 minutes */
  readonly interval?: Duration;
  /** How soon a failed reconcile is retried. @default 2 minutes */
  readonly retryInterval?: Duration;
  /** How long Flux waits for the health checks. @default 5 minutes */
  readonly timeout?: Duration;
  /** Delete objects that were removed from the folder. @default true */
  readonly prune?: boolean;
}

/**
 * The Flux Kustomization (kustomize.toolkit.fluxcd.io/v1) that applies the fail2ban folder. It lives outside that
 * folder: Flux applies it from wherever the cluster's other Flux objects are kept.
 */
export class FluxKustomization extends Construct {
  constructor(scope: Construct, id: string, props: FluxKustomizationProps) {
    super(scope, id);
    new ApiObject(this, 'Resource', {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: props.name ?? 'fail2ban', namespace: props.namespace ?? 'flux-system' },
      spec: {
        interval: renderDuration(props.interval ?? Duration.minutes(10)),
        retryInterval: renderDuration(props.retryInterval ?? Duration.minutes(2)),
        timeout: renderDuration(props.timeout ?? Duration.minutes(5)),
        path: props.path,
        prune: props.prune ?? true,
        sourceRef: props.sourceRef ?? { kind: 'GitRepository', name: 'flux-system' },
        healthChecks: props.healthChecks,
      },
    });
  }
}
