import { CONFIG_HASH_ANNOTATION } from '../k8s/daemon-set';
import { K8sObject } from './objects';

/** The parts of the generated pod template that operators read; other fields stay untyped. */
export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: unknown;
}

export interface VolumeMount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
  readonly subPath?: string;
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly env?: EnvVar[];
  readonly volumeMounts?: VolumeMount[];
  readonly [field: string]: unknown;
}

export interface Volume {
  readonly name: string;
  readonly hostPath?: { readonly path: string; readonly type?: string };
  readonly configMap?: { readonly name: string };
  readonly [source: string]: unknown;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: string;
  readonly value?: string;
  readonly effect?: string;
}

export interface PodTemplate {
  readonly metadata?: { readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly spec: {
    readonly containers: Container[];
    readonly initContainers?: Container[];
    readonly volumes?: Volume[];
    readonly tolerations?: Toleration[];
    readonly [field: string]: unknown;
  };
}

export interface DaemonSetObject extends K8sObject {
  readonly spec: {
    readonly template: PodTemplate;
    readonly updateStrategy?: { readonly type?: string; readonly rollingUpdate?: { readonly maxUnavailable?: number | string } };
    readonly [field: string]: unknown;
  };
}

/** The object as a DaemonSet; synth generated it, so its shape is trusted rather than checked field by field. */
export function asDaemonSet(object: K8sObject | undefined): DaemonSetObject | undefined {
  return object?.kind === 'DaemonSet' ? (object as DaemonSetObject) : undefined;
}

/** The ConfigMap hash the pods were started with; a new value rolls them. */
export function configHashOf(daemonSet: DaemonSetObject): string | undefined {
  return daemonSet.spec.template.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
}

/**
 * `host /var/log (Directory)`, `ConfigMap fail2ban-config`: where a volume's files come from; `name` formats the path
 * or name (the operations document sets them as code).
 */
export function describeVolumeSource(volume: Volume, name: (text: string) => string = (text) => text): string {
  if (volume.hostPath) {
    return `host ${name(volume.hostPath.path)}${volume.hostPath.type ? ` (${volume.hostPath.type})` : ''}`;
  }
  if (volume.configMap) {
    return `ConfigMap ${name(volume.configMap.name)}`;
  }
  return Object.keys(volume).find((key) => key !== 'name') ?? 'no source';
}

/** `read-only`, `read-write`: what the container may do with a mount. */
export function mountMode(mount: VolumeMount): string {
  return mount.readOnly ? 'read-only' : 'read-write';
}

/** `node-role.kubernetes.io/control-plane:NoSchedule`, as `kubectl taint` writes a taint. */
export function describeToleration(toleration: Toleration): string {
  if (toleration.key === undefined) {
    return 'every taint';
  }
  const value = toleration.operator === 'Equal' && toleration.value !== undefined ? `=${toleration.value}` : '';
  return `${toleration.key}${value}:${toleration.effect ?? 'any effect'}`;
}
