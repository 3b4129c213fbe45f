import * as path from 'node:path';
import { ApiObject, Duration, JsonPatch, Lazy, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import * as k8s from 'cdk8s-plus-28/lib/imports/k8s';
import { Construct } from 'constructs';
import { CONTAINER_LOG_DIR, HOST_LOG_DIR } from '../model/log-path';
import { Fail2banConfigMap } from './config-map';
import { KubeServiceAccount } from 'cdk8s-plus-28/lib/imports/k8s';
import { AGENT_UID, agentFiles, banBrokerContainer, NodeAgentSettings, nodeAgentContainer, RUN_DIR, TOKEN_DIR } from './node-agent';

/** Pod-template annotation with the sha256 of the ConfigMap data: a new value rolls every pod. */
export const CONFIG_HASH_ANNOTATION = 'fail2ban.cdk8s/config-sha256';

/** Where the image keeps its sqlite ban database (`dbfile = /data/db/fail2ban.sqlite3`). */
export const CONTAINER_DB_DIR = '/data/db';

/**
 * How much of the node the containers get. `net-admin`: NET_ADMIN alone (nftables needs nothing else: its `reject`
 * is the kernel's, no raw socket), no privilege escalation, the runtime's seccomp profile, not in the host's PID
 * namespace. `privileged`: the deployment this replaces (privileged containers in the host's PID namespace); only
 * for ban actions of one's own that reach beyond nftables, e.g. into host processes.
 */
export type SecurityMode = 'privileged' | 'net-admin';

/**
 * Run before fail2ban starts: after a SIGKILL (OOM, exceeded grace period, node crash) fail2ban's nftables table
 * stays, and the next start would add every rule again. The ban database restores the bans into a fresh table.
 */
export const RESET_FIREWALL_SCRIPT = 'if nft list table inet f2b-table >/dev/null 2>&1; then nft delete table inet f2b-table; fi';

function securityContext(mode: SecurityMode): kplus.ContainerSecurityContextProps {
  // The entrypoint writes under /etc and fail2ban runs as root in either mode.
  const root = { ensureNonRoot: false, user: 0, group: 0, readOnlyRootFilesystem: false };
  if (mode === 'privileged') {
    return { ...root, privileged: true, allowPrivilegeEscalation: true };
  }
  return {
    ...root,
    privileged: false,
    allowPrivilegeEscalation: false,
    capabilities: { add: [kplus.Capability.NET_ADMIN], drop: [kplus.Capability.ALL] },
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

/** Timing of the fail2ban container's probes, which both run `fail2ban-client ping` (the image's HEALTHCHECK). */
export interface Fail2banProbes {
  /** Restarts fail2ban when it stops answering. @default initialDelaySeconds 30 s, periodSeconds 30 s, timeoutSeconds 10 s, failureThreshold 3 */
  readonly liveness?: kplus.ProbeOptions;
  /** Holds a rollout until fail2ban answers. @default initialDelaySeconds 5 s, periodSeconds 10 s, timeoutSeconds 10 s */
  readonly readiness?: kplus.ProbeOptions;
}

/** A host path mounted into the fail2ban container: cdk8s-plus's `Volume.fromHostPath` with its `MountOptions`. */
export interface HostPathMount {
  /** The path on the node. */
  readonly hostPath: string;
  /** Where the fail2ban container sees it. */
  readonly containerPath: string;
  /** What must be at the host path. @default kplus.HostPathVolumeType.DIRECTORY */
  readonly type?: kplus.HostPathVolumeType;
  /** Mount it read-only: fail2ban only reads logs. @default true */
  readonly readOnly?: boolean;
  /** The pod volume's name. @default `host-` and the container path, as a DNS label */
  readonly name?: string;
}

/** A DNS label (a pod volume's name) for a path: `prefix-` and the path's letters and digits, at most 63 characters. */
export function volumeNameFor(prefix: string, containerPath: string): string {
  return `${prefix}-${containerPath.replace(/[^a-z0-9]+/gi, '-').replace(/^-+/, '').toLowerCase()}`.slice(0, 63).replace(/-+$/, '');
}

/** Props of {@link Fail2banDaemonSet}. */
export interface Fail2banDaemonSetProps {
  /** DaemonSet name. */
  readonly name: string;
  /** Namespace of the DaemonSet. */
  readonly namespace: string;
  /** Container image, pinned to a tag. */
  readonly image: string;
  /** The hosts' time zone, for the node agent (the fail2ban container's is in `env`). */
  readonly timeZone: string;
  /** Labels of the DaemonSet and its pods. */
  readonly labels: Record<string, string>;
  /** The subset of `labels` that selects the pods; immutable once applied. */
  readonly selectorLabels: Record<string, string>;
  /** Environment of the fail2ban container. */
  readonly env: Record<string, string>;
  /** Taints the pods tolerate. */
  readonly tolerations: kplus.NodeTaintQuery[];
  /** Requests and limits of the fail2ban container. */
  readonly resources: kplus.ContainerResources;
  /** Host directory that keeps the ban database across restarts, mounted at `/data/db`. */
  readonly databaseHostPath: string;
  /** Pod priority class, so that the node keeps fail2ban when it evicts. */
  readonly priorityClassName: string;
  /** Time fail2ban gets on stop to remove its nftables rules. */
  readonly terminationGracePeriod: Duration;
  /** The ConfigMap whose files are mounted and whose hash, taken when the pod template renders, rolls the pods. */
  readonly configMap: Fail2banConfigMap;
  /** Privileges of the containers. */
  readonly securityMode: SecurityMode;
  /** Timing of the liveness and readiness probes. */
  readonly probes: Required<Fail2banProbes>;
  /** What the node agent and its broker are told. */
  readonly nodeAgent: NodeAgentSettings;
}

/**
 * fail2ban on every node: in the host's network namespace, reading the host's logs and banning into the host's
 * nftables, with the privileges of its security mode.
 */
export class Fail2banDaemonSet extends Construct {
  /** The fail2ban container, for further mounts. */
  public readonly container: kplus.Container;
  private readonly daemonSet: kplus.DaemonSet;
  private readonly configVolume: kplus.Volume;
  /** The node agent's container (agent/): features add their settings to its environment. */
  public readonly agent: kplus.Container;
  /** The broker's container (agent/broker.py): features tell it what further the agent may ask of fail2ban. */
  public readonly broker: kplus.Container;
  /** The ServiceAccount of the pods, whose token only the agent mounts: features bind their roles to it. */
  public readonly serviceAccountName: string;
  private readonly image: string;

  constructor(scope: Construct, id: string, props: Fail2banDaemonSetProps) {
    super(scope, id);

    this.daemonSet = new kplus.DaemonSet(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      // Rendered late, so that files added after construction (features, users) count too.
      podMetadata: { labels: props.labels, annotations: { [CONFIG_HASH_ANNOTATION]: Lazy.any({ produce: () => props.configMap.hash }) } },
      // The default selector is a hash of the construct path: renaming a construct would change an immutable field.
      select: false,
      hostNetwork: true,
      dns: { policy: kplus.DnsPolicy.CLUSTER_FIRST_WITH_HOST_NET },
      securityContext: { ensureNonRoot: false },
      automountServiceAccountToken: false,
      terminationGracePeriod: props.terminationGracePeriod,
    });
    this.daemonSet.select(kplus.LabelSelector.of({ labels: props.selectorLabels }));
    // cdk8s-plus labels pods with that hash even without selecting on it: a rename would roll every pod for nothing.
    ApiObject.of(this.daemonSet).addJsonPatch(JsonPatch.remove('/spec/template/metadata/labels/cdk8s.io~1metadata.addr'));
    this.daemonSet.scheduling.tolerate(kplus.Node.tainted(...props.tolerations));
    if (props.securityMode === 'privileged') {
      this.patchPodSpec('hostPid', true);
    }
    this.patchPodSpec('priorityClassName', props.priorityClassName);
    ApiObject.of(this.daemonSet).addJsonPatch(
      JsonPatch.add('/spec/updateStrategy', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(1) } }),
    );

    this.daemonSet.addInitContainer({
      name: 'reset-firewall',
      image: props.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: ['sh', '-c', RESET_FIREWALL_SCRIPT],
      securityContext: securityContext(props.securityMode),
      resources: { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } },
    });

    const ping = ['fail2ban-client', 'ping'];
    this.container = this.daemonSet.addContainer({
      name: 'fail2ban',
      image: props.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      securityContext: securityContext(props.securityMode),
      envVariables: Object.fromEntries(Object.entries(props.env).map(([key, value]) => [key, kplus.EnvValue.fromValue(value)])),
      resources: props.resources,
      liveness: kplus.Probe.fromCommand(ping, props.probes.liveness),
      readiness: kplus.Probe.fromCommand(ping, props.probes.readiness),
    });

    this.mountHostPath({ name: 'host-logs', hostPath: HOST_LOG_DIR, containerPath: CONTAINER_LOG_DIR });
    this.mountHostPath({ name: 'xtables-lock', hostPath: '/run/xtables.lock', containerPath: '/run/xtables.lock', type: kplus.HostPathVolumeType.FILE_OR_CREATE, readOnly: false });
    this.mountHostPath({ name: 'database', hostPath: props.databaseHostPath, containerPath: CONTAINER_DB_DIR, type: kplus.HostPathVolumeType.DIRECTORY_OR_CREATE, readOnly: false });
    this.configVolume = kplus.Volume.fromConfigMap(this, 'config', props.configMap.configMap, { name: 'config' });

    this.image = props.image;
    this.serviceAccountName = props.name;
    new KubeServiceAccount(this, 'ServiceAccount', { metadata: { name: props.name, namespace: props.namespace, labels: props.labels }, automountServiceAccountToken: false });
    this.patchPodSpec('serviceAccountName', props.name);
    [this.broker, this.agent] = this.addNodeAgent(props);
  }

  /**
   * The node agent and its broker, with the agent's code from the ConfigMap: fail2ban's run directory (its socket) is
   * shared with the broker only, the hand-off directory with both, the API token mounted into the agent only.
   */
  private addNodeAgent(props: Fail2banDaemonSetProps): [broker: kplus.Container, agent: kplus.Container] {
    const files = agentFiles();
    files.forEach((file) => props.configMap.addFile(file.key, file.content));
    const items = Object.fromEntries(files.map((file) => [file.key, { path: file.path }]));
    const code = kplus.Volume.fromConfigMap(this, 'node-agent-code', props.configMap.configMap, { name: 'node-agent', items });
    const run = kplus.Volume.fromEmptyDir(this, 'run', 'run', { medium: kplus.EmptyDirMedium.MEMORY });
    const handoff = kplus.Volume.fromEmptyDir(this, 'handoff', 'handoff', { medium: kplus.EmptyDirMedium.MEMORY });
    this.container.mount(RUN_DIR, run);
    const settings = { image: props.image, timeZone: props.timeZone, code, handoff, settings: props.nodeAgent };
    const broker = this.daemonSet.addContainer(banBrokerContainer({ ...settings, run }));
    const agent = this.daemonSet.addContainer(nodeAgentContainer(settings));
    this.mountServiceAccountToken(agent);
    return [broker, agent];
  }

  /**
   * Mounts one ConfigMap key as a regular file: the image links files from `/data/filter.d` only when they are
   * regular files, which a directory mount of a ConfigMap (symlinks) is not. subPath mounts never update, which is
   * why the config hash rolls the pods.
   */
  public mountConfigFile(key: string, containerPath: string): void {
    this.container.mount(containerPath, this.configVolume, { subPath: key, readOnly: true });
  }

  /**
   * Makes sure a log file exists on every node: fail2ban stops altogether when an enabled jail finds no log file,
   * e.g. the API-server audit log on agents. The kubelet creates the file empty where it is missing.
   */
  public addOptionalHostLog(containerPath: string): void {
    const relative = path.posix.relative(CONTAINER_LOG_DIR, containerPath);
    this.mountHostPath({ name: volumeNameFor('log', relative), hostPath: path.posix.join(HOST_LOG_DIR, relative), containerPath, type: kplus.HostPathVolumeType.FILE_OR_CREATE });
  }

  /**
   * Mounts a projected, pod-bound ServiceAccount token (it names the node) and the cluster CA into one container,
   * and no other: cdk8s-plus-28 has no projected volume, so the volume and the mount are added to the rendered pod.
   */
  private mountServiceAccountToken(container: kplus.Container): void {
    const volumeName = 'node-agent-token';
    const resource = ApiObject.of(this.daemonSet);
    resource.addJsonPatch(
      JsonPatch.add('/spec/template/spec/volumes/-', {
        name: volumeName,
        projected: {
          sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      }),
    );
    const index = this.daemonSet.containers.indexOf(container);
    resource.addJsonPatch(JsonPatch.add(`/spec/template/spec/containers/${index}/volumeMounts/-`, { name: volumeName, mountPath: TOKEN_DIR, readOnly: true }));
  }

  /**
   * A host directory the agent keeps across pod restarts and reboots. The kubelet creates it as root; an init
   * container whose only capability is CHOWN hands it to the agent's user.
   */
  public mountAgentHostDirectory(mount: { readonly name: string; readonly hostPath: string; readonly containerPath: string }): void {
    const volume = kplus.Volume.fromHostPath(this, mount.name, mount.name, { path: mount.hostPath, type: kplus.HostPathVolumeType.DIRECTORY_OR_CREATE });
    this.daemonSet.addInitContainer({
      name: `own-${mount.name}`,
      image: this.image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: ['chown', `${AGENT_UID}:${AGENT_UID}`, mount.containerPath],
      volumeMounts: [{ path: mount.containerPath, volume }],
      securityContext: {
        ensureNonRoot: false,
        user: 0,
        privileged: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { add: [kplus.Capability.CHOWN], drop: [kplus.Capability.ALL] },
        seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
      },
      resources: { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(8), limit: Size.mebibytes(32) } },
    });
    this.agent.mount(mount.containerPath, volume);
  }

  /**
   * A host directory the agent and its broker read, read-only, and no other container sees at that path (the agent's
   * user must be able to read it).
   */
  public mountNodeAgentHostPath(mount: { readonly name: string; readonly hostPath: string; readonly containerPath: string }): void {
    const volume = kplus.Volume.fromHostPath(this, mount.name, mount.name, { path: mount.hostPath, type: kplus.HostPathVolumeType.DIRECTORY_OR_CREATE });
    this.agent.mount(mount.containerPath, volume, { readOnly: true });
    this.broker.mount(mount.containerPath, volume, { readOnly: true });
  }

  /**
   * A memory-backed directory that the fail2ban container writes and the agent reads, and no other container sees
   * (the hand-off directory, with the broker's socket, is not mounted in fail2ban).
   */
  public shareWithAgent(name: string, containerPath: string): void {
    const volume = kplus.Volume.fromEmptyDir(this, name, name, { medium: kplus.EmptyDirMedium.MEMORY });
    this.container.mount(containerPath, volume);
    this.agent.mount(containerPath, volume);
  }

  /** Mounts a host path into the fail2ban container. */
  public mountHostPath(mount: HostPathMount): void {
    const name = mount.name ?? volumeNameFor('host', mount.containerPath);
    const volume = kplus.Volume.fromHostPath(this, name, name, { path: mount.hostPath, type: mount.type ?? kplus.HostPathVolumeType.DIRECTORY });
    this.container.mount(mount.containerPath, volume, { readOnly: mount.readOnly ?? true });
  }

  /**
   * cdk8s-plus-28 has no prop for these pod fields. Patches apply before the L1 object maps its TypeScript names to
   * Kubernetes ones, so they must use the L1 name (`hostPid`, not `hostPID`, which would be silently dropped).
   */
  private patchPodSpec(l1Field: string, value: unknown): void {
    ApiObject.of(this.daemonSet).addJsonPatch(JsonPatch.add(`/spec/template/spec/${l1Field}`, value));
  }
}
