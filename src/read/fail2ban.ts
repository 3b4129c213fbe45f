import { DaemonSetObject, asDaemonSet } from './daemon-set';
import { parseIni } from '../model/ini';
import { JailLocalSection } from './jail-local';
import { K8sObject, parseClusterObjects } from './objects';

/** The ConfigMap key of `jail.local`; every other key of that ConfigMap is a filter file. */
export const JAIL_LOCAL_KEY = 'jail.local';

/** The fail2ban deployment a manifests folder describes, read back from its files. */
export interface GeneratedFail2ban {
  /** Every object the folder applies, in file order. */
  readonly objects: K8sObject[];
  /** The ConfigMap that holds `jail.local`. */
  readonly configMap?: K8sObject;
  /** Its `jail.local`, section by section; empty without one. */
  readonly jailLocal: JailLocalSection[];
  /** Its filter files: ConfigMap key → content, sorted by key. */
  readonly filters: ReadonlyMap<string, string>;
  /** The DaemonSet that runs fail2ban. */
  readonly daemonSet?: DaemonSetObject;
}

function dataOf(object: K8sObject): Record<string, string> {
  return (object.data as Record<string, string> | undefined) ?? {};
}

/** Where the image takes filter files from; other ConfigMap keys are jail.local, actions, programs. */
const FILTER_DIR = '/data/filter.d/';

/** Reads the manifests folder (file name → content); an empty folder reads as nothing deployed. */
export function readGenerated(files: Record<string, string>): GeneratedFail2ban {
  return readObjects(parseClusterObjects(files));
}

/** Reads the objects of a manifests folder. */
export function readObjects(objects: K8sObject[]): GeneratedFail2ban {
  const configMap = objects.find((object) => object.kind === 'ConfigMap' && dataOf(object)[JAIL_LOCAL_KEY] !== undefined);
  const data = configMap ? dataOf(configMap) : {};
  const daemonSet = asDaemonSet(objects.find((object) => object.kind === 'DaemonSet'));
  const mounts = daemonSet?.spec.template.spec.containers.flatMap((container) => container.volumeMounts ?? []) ?? [];
  const filterKeys = mounts
    .filter((mount) => mount.mountPath.startsWith(FILTER_DIR) && mount.subPath !== undefined && data[mount.subPath] !== undefined)
    .map((mount) => mount.subPath!)
    .sort();
  return {
    objects,
    configMap,
    jailLocal: parseIni(data[JAIL_LOCAL_KEY] ?? ''),
    filters: new Map(filterKeys.map((key) => [key, data[key]])),
    daemonSet,
  };
}
