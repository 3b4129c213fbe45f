import { BAN_MANAGER } from '../../k8s/ban-manager';
import { CONTAINER_DB_DIR } from '../../k8s/daemon-set';
import { Container, DaemonSetObject, VolumeMount, Volume, configHashOf } from '../../read/daemon-set';
import { readObjects } from '../../read/fail2ban';
import { JailLocalSection } from '../../read/jail-local';
import { K8sObject } from '../../read/objects';

/** The Flux Kustomization that applies the manifests folder. */
export interface FluxFacts {
  readonly name: string;
  readonly namespace: string;
  readonly path: string;
  readonly interval?: string;
  /** The file it is generated into. */
  readonly file: string;
}

/** What the operations document says about the deployment, read from the generated objects. */
export interface DeploymentFacts {
  readonly manifestsDir: string;
  readonly namespace: string;
  readonly daemonSet: DaemonSetObject;
  readonly container: Container;
  readonly volumes: ReadonlyMap<string, Volume>;
  readonly configMapName: string;
  readonly configHash?: string;
  readonly jailLocal: JailLocalSection[];
  /** Filter file names (ConfigMap keys, `*.conf`; not the files they include, such as `cri.inc`), sorted. */
  readonly filters: string[];
  readonly timeZone?: string;
  /** The host directory mounted at the image's database directory. */
  readonly databaseHostPath?: string;
  readonly flux?: FluxFacts;
  /** The user the "Manage Fail2ban" workflow is authenticated as, when the manifests grant one access. */
  readonly banManager?: string;
}

const FLUX_KUSTOMIZATION_API = /^kustomize\.toolkit\.fluxcd\.io\//;

function fluxFacts(files: Record<string, K8sObject[]>): FluxFacts | undefined {
  for (const file of Object.keys(files).sort()) {
    const object = files[file].find((o) => o.kind === 'Kustomization' && FLUX_KUSTOMIZATION_API.test(o.apiVersion));
    if (object) {
      const spec = object.spec as { path: string; interval?: string };
      return { name: object.metadata?.name ?? '', namespace: object.metadata?.namespace ?? '', path: spec.path, interval: spec.interval, file };
    }
  }
  return undefined;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`operations document: the manifests have no ${what}`);
  }
  return value;
}

function databaseHostPath(mounts: VolumeMount[], volumes: ReadonlyMap<string, Volume>): string | undefined {
  const mount = mounts.find((m) => m.mountPath === CONTAINER_DB_DIR);
  return mount && volumes.get(mount.name)?.hostPath?.path;
}

/** The facts of one generated deployment: the folder's objects, and the other generated files' objects by path. */
export function deploymentFacts(manifestsDir: string, objects: K8sObject[], files: Record<string, K8sObject[]>): DeploymentFacts {
  const generated = readObjects(objects);
  const daemonSet = required(generated.daemonSet, 'DaemonSet');
  const configMap = required(generated.configMap, 'ConfigMap with jail.local');
  const pod = daemonSet.spec.template.spec;
  // fail2ban's container comes first; init containers are listed apart and finish before it starts.
  const container = required(pod.containers[0], 'container in the DaemonSet');
  const volumes = new Map((pod.volumes ?? []).map((volume) => [volume.name, volume]));
  return {
    manifestsDir,
    namespace: daemonSet.metadata?.namespace ?? 'default',
    daemonSet,
    container,
    volumes,
    configMapName: configMap.metadata?.name ?? '',
    configHash: configHashOf(daemonSet),
    jailLocal: generated.jailLocal,
    filters: [...generated.filters.keys()].filter((key) => key.endsWith('.conf')),
    timeZone: container.env?.find((env) => env.name === 'TZ')?.value,
    databaseHostPath: databaseHostPath(container.volumeMounts ?? [], volumes),
    flux: fluxFacts(files),
    banManager: banManagerUser(generated.objects),
  };
}

/** The user the ban manager's RoleBinding grants to, if there is one. */
function banManagerUser(objects: readonly K8sObject[]): string | undefined {
  const binding = objects.find((object) => object.kind === 'RoleBinding' && object.metadata?.name === BAN_MANAGER) as
    | (K8sObject & { subjects?: Array<{ kind: string; name: string }> })
    | undefined;
  return binding?.subjects?.find((subject) => subject.kind === 'User')?.name;
}
