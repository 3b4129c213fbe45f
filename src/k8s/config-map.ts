import { createHash } from 'node:crypto';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';

/** Props of {@link Fail2banConfigMap}. */
export interface Fail2banConfigMapProps {
  /** ConfigMap name. */
  readonly name: string;
  /** Namespace of the ConfigMap. */
  readonly namespace: string;
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

/** The ConfigMap holding `jail.local`, the filter files and what features ship, with the hash that rolls the pods. */
export class Fail2banConfigMap extends Construct {
  /** The cdk8s-plus ConfigMap, for volumes. */
  public readonly configMap: kplus.ConfigMap;
  private readonly files: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: Fail2banConfigMapProps) {
    super(scope, id);
    this.configMap = new kplus.ConfigMap(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
    });
  }

  /** Adds a file; each key becomes one file, mounted where the containers need it. */
  public addFile(key: string, content: string): void {
    if (key in this.files) throw new Error(`ConfigMap key ${key} is added twice`);
    this.files[key] = content;
    this.configMap.addData(key, content);
  }

  /** sha256 of the data so far (see {@link configHash}). */
  public get hash(): string {
    return configHash(this.files);
  }
}
