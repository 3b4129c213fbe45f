/** A Kubernetes object as a generated file holds it. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

// kustomize reads this file to build the folder; it is never applied, and it only lists the other files.
const KUSTOMIZE_BUILD_API = /^kustomize\.config\.k8s\.io\//;

/** Every YAML document of a file, refusing a file that does not parse (synth wrote it, so that is a bug). */
function parseYamlDocuments(file: string, content: string): unknown[] {
  // Loaded here, not at the top: a synth that changes nothing never parses YAML, and loading it costs ~40 ms.
  const { parseAllDocuments } = require('yaml') as typeof import('yaml');
  return parseAllDocuments(content).map((doc) => {
    if (doc.errors.length > 0) {
      throw new Error(`${file}: ${doc.errors[0].message}`);
    }
    return doc.toJS();
  });
}

function isObject(value: unknown): value is K8sObject {
  return typeof value === 'object' && value !== null && typeof (value as K8sObject).kind === 'string';
}

/** The objects a set of generated files (file name → content) puts into the cluster, in file-name order. */
export function parseClusterObjects(files: Record<string, string>): K8sObject[] {
  return Object.keys(files)
    .sort()
    .flatMap((file) => parseYamlDocuments(file, files[file]))
    .filter(isObject)
    .filter((object) => !KUSTOMIZE_BUILD_API.test(object.apiVersion));
}

/** What identifies an object in the cluster: kind, namespace and name. */
export function objectId(object: K8sObject): string {
  return [object.kind, object.metadata?.namespace ?? '', object.metadata?.name ?? ''].join('/');
}

/** `DaemonSet fail2ban`: how operator-facing text names an object. */
export function objectLabel(object: K8sObject): string {
  return `${object.kind} ${object.metadata?.name ?? '(unnamed)'}`;
}
