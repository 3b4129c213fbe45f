import { createHash } from 'node:crypto';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/** Props of {@link Fail2banConfigMap}. */
export interface Fail2banConfigMapProps {
  /** ConfigMap name. */
  readonly name: string;
  /** Namespace of the ConfigMap. */
  readonly namespace: string;
  /** File name → content; each key becomes one file mounted by subPath. */
  readonly files: Record<string, string>;
  /** Labels of the ConfigMap. @default none */
  readonly labels?: Record<string, string>;
}

/** sha256 of ConfigMap data, over the keys in sorted order so that insertion order never changes it. */
export function configHash(data: Record<string, string>): string {
  const sorted = Object.keys(data)
    .sort()
    .map((key) => [key, data[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

/** The ConfigMap holding `jail.local` and the filter files, with the hash that rolls the pods when it changes. */
export class Fail2banConfigMap extends Construct {
  /** The cdk8s-plus ConfigMap, for volumes. */
  public readonly configMap: kplus.ConfigMap;
  /** sha256 of the data (see {@link configHash}). */
  public readonly hash: string;
  /** The data keys, sorted. */
  public readonly keys: string[];

  constructor(scope: Construct, id: string, props: Fail2banConfigMapProps) {
    super(scope, id);
    this.keys = Object.keys(props.files).sort();
    this.hash = configHash(props.files);
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      data: props.files,
    });
  }
}
