import * as fs from 'node:fs';
import { Container, Quantity, Volume } from 'cdk8s-plus-28/lib/imports/k8s';
import { packagePath } from '../../model/package-path';

/** The sidecar's program in this repository; shipped in the ConfigMap under {@link SIDECAR_PROGRAM_KEY}. */
export const SIDECAR_PROGRAM_FILE = packagePath('sharing', 'ban_sharing.py');
export const SIDECAR_PROGRAM_KEY = 'ban_sharing.py';

/** Shared by both containers (memory-backed): fail2ban's socket and the outbox of events. */
export const RUN_DIR = '/var/run/fail2ban';
const TOKEN_DIR = '/var/run/secrets/ban-sharing';
const PROGRAM_PATH = `/opt/ban-sharing/${SIDECAR_PROGRAM_KEY}`;
const STATUS_FILE = `${RUN_DIR}/ban-sharing.status`;
/** The sidecar's memory of what it published, on the host so that pod restarts and reboots keep it. */
export const STATE_HOST_DIR = '/var/lib/fail2ban/ban-sharing';
const STATE_DIR = '/var/lib/ban-sharing';

/** The program's text. */
export function sidecarProgram(): string {
  return fs.readFileSync(SIDECAR_PROGRAM_FILE, 'utf8');
}

/** The projected, pod-bound token (with the node's name in it) and the cluster CA, for the sidecar alone. */
export function tokenVolume(name: string): Volume {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      ],
    },
  };
}

/** Where the sidecar remembers the records it published: a deletion it missed while down is then no reason to publish again. */
export function stateVolume(name: string): Volume {
  return { name, hostPath: { path: STATE_HOST_DIR, type: 'DirectoryOrCreate' } };
}

/** Props of {@link sidecarContainer}. */
export interface SidecarProps {
  readonly image: string;
  readonly namespace: string;
  readonly group: string;
  readonly timeZone: string;
  /** Origin jail → mirror jail and the longest ban the mirror holds (-1 permanent). */
  readonly sharedJails: Record<string, { readonly mirror: string; readonly maxBanTime: number }>;
  /** Addresses and ranges no record may ban here. */
  readonly neverBan: readonly string[];
  readonly rateLimitPerMinute: number;
  /** Volume names: the run directory, the token, the ConfigMap, the state directory on the host. */
  readonly volumes: { readonly run: string; readonly token: string; readonly config: string; readonly state: string };
}

/**
 * The ban-sharing sidecar (docs/ban-sharing.md): the same image, its own Python program, the only container with the
 * API token; no capabilities and a read-only root filesystem, root only to reach fail2ban's socket.
 */
export function sidecarContainer(props: SidecarProps): Container {
  const env: Record<string, string> = {
    NAMESPACE: props.namespace,
    BAN_GROUP: props.group,
    TZ: props.timeZone,
    TOKEN_FILE: `${TOKEN_DIR}/token`,
    CA_FILE: `${TOKEN_DIR}/ca.crt`,
    F2B_SOCKET: `${RUN_DIR}/fail2ban.sock`,
    OUTBOX: `${RUN_DIR}/outbox`,
    SHARED_JAILS: JSON.stringify(props.sharedJails),
    NEVER_BAN: props.neverBan.join(' '),
    RATE_LIMIT: String(props.rateLimitPerMinute),
    REPUBLISH_SECONDS: '60',
    STATUS_FILE,
    STATE_FILE: `${STATE_DIR}/state.json`,
  };
  return {
    name: 'ban-sharing',
    image: props.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/usr/bin/python3', PROGRAM_PATH],
    env: [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ...Object.entries(env).map(([name, value]) => ({ name, value })),
    ],
    volumeMounts: [
      { name: props.volumes.run, mountPath: RUN_DIR },
      { name: props.volumes.token, mountPath: TOKEN_DIR, readOnly: true },
      { name: props.volumes.config, mountPath: PROGRAM_PATH, subPath: SIDECAR_PROGRAM_KEY, readOnly: true },
      { name: props.volumes.state, mountPath: STATE_DIR },
    ],
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    // The program touches its status file after every successful round with the API.
    livenessProbe: {
      exec: { command: ['/usr/bin/python3', '-c', `import os,sys,time; sys.exit(time.time() - os.path.getmtime('${STATUS_FILE}') > 300)`] },
      initialDelaySeconds: 60,
      periodSeconds: 30,
      timeoutSeconds: 10,
    },
    resources: {
      requests: { cpu: Quantity.fromString('10m'), memory: Quantity.fromString('32Mi') },
      limits: { memory: Quantity.fromString('128Mi') },
    },
  };
}

