import * as fs from 'node:fs';
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { packagePath } from '../model/package-path';

/** The node agent's Python package in this repository (`agent/`), without its tests. */
export const AGENT_DIR = packagePath('agent');

/** Where the agent's package is mounted; the agent and the broker run from there (`python3 -m agent…`). */
const AGENT_HOME = '/opt/node-agent';

/** fail2ban's run directory (memory-backed), with its socket: mounted in the fail2ban and broker containers only. */
export const RUN_DIR = '/var/run/fail2ban';

/**
 * The hand-off directory (memory-backed) of the broker and the agent: the broker's socket, the agent's liveness file.
 * Neither fail2ban's socket is in it nor is it mounted in the fail2ban container.
 */
export const HANDOFF_DIR = '/var/run/node-agent';
const STATUS_FILE = `${HANDOFF_DIR}/node-agent.status`;
const BROKER_SOCKET = `${HANDOFF_DIR}/broker.sock`;

/** Where the agent, and only the agent, finds its pod-bound API token and the cluster CA. */
export const TOKEN_DIR = '/var/run/secrets/node-agent';

/** The agent's user and group; the broker's socket is group-writable for this group only. */
export const AGENT_UID = 10001;

/**
 * The agent's files as ConfigMap keys (`agent.records.py`) and their paths in the mounted volume (`agent/records.py`):
 * keys cannot hold a `/`, and one directory mount with items keeps the package whole in one volume.
 */
export function agentFiles(): Array<{ key: string; path: string; content: string }> {
  return fs
    .readdirSync(AGENT_DIR)
    .filter((file) => file.endsWith('.py') || file.endsWith('.json'))
    .sort()
    .map((file) => ({ key: `agent.${file}`, path: `agent/${file}`, content: fs.readFileSync(`${AGENT_DIR}/${file}`, 'utf8') }));
}

/** What the agent and the broker are told about the deployment. */
export interface NodeAgentSettings {
  /** Namespace of the package's objects. */
  readonly namespace: string;
  /** API group of the package's objects. */
  readonly group: string;
  /** Ranges no ban may hold: the never-ban list and every jail's `ignoreIp`. */
  readonly neverBan: readonly string[];
  /** Jail → what the broker lets the agent do there (`get`, `ban`, `unban`). */
  readonly brokerJails: Readonly<Record<string, readonly ('get' | 'ban' | 'unban')[]>>;
}

/** Props of the node agent's and the broker's containers. */
export interface NodeAgentProps {
  /** The image: fail2ban's own, which has Python and, for the broker, fail2ban's socket client. */
  readonly image: string;
  /** The hosts' time zone (fail2ban's ban lists are in local time). */
  readonly timeZone: string;
  /** The ConfigMap volume holding the agent's package, mapped to `agent/` by items. */
  readonly code: kplus.Volume;
  /** The hand-off directory of the broker and the agent. */
  readonly handoff: kplus.Volume;
  readonly settings: NodeAgentSettings;
}

const RESTRICTED = {
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: [kplus.Capability.ALL] },
  seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
};

/** `python3 -m MODULE` from the agent's package, in fail2ban's image (which has Python): the agent and the broker. */
function fromAgentPackage(image: string, module: string): Pick<kplus.ContainerProps, 'image' | 'imagePullPolicy' | 'command' | 'workingDir'> {
  return { image, imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT, command: ['/usr/bin/python3', '-m', module], workingDir: AGENT_HOME };
}

function values(env: Record<string, string>): Record<string, kplus.EnvValue> {
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, kplus.EnvValue.fromValue(value)]));
}

/**
 * The node agent's container (agent/): the only one with the API token; not root, no capabilities, a read-only root
 * filesystem, and no way to fail2ban but the broker. Features give it their settings through its environment.
 */
export function nodeAgentContainer(props: NodeAgentProps): kplus.ContainerProps {
  return {
    name: 'node-agent',
    ...fromAgentPackage(props.image, 'agent'),
    envVariables: {
      NODE_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.NODE_NAME),
      ...values({
        TZ: props.timeZone,
        NAMESPACE: props.settings.namespace,
        BAN_GROUP: props.settings.group,
        TOKEN_FILE: `${TOKEN_DIR}/token`,
        CA_FILE: `${TOKEN_DIR}/ca.crt`,
        BROKER_SOCKET,
        NEVER_BAN: props.settings.neverBan.join(' '),
        STATUS_FILE,
        // The code is on a read-only volume.
        PYTHONDONTWRITEBYTECODE: '1',
      }),
    },
    volumeMounts: [
      { path: HANDOFF_DIR, volume: props.handoff },
      { path: AGENT_HOME, volume: props.code, readOnly: true },
    ],
    securityContext: { ...RESTRICTED, ensureNonRoot: true, user: AGENT_UID, group: AGENT_UID },
    // The agent touches its status file after every successful round with the API.
    liveness: kplus.Probe.fromCommand(['/usr/bin/python3', '-c', `import os,sys,time; sys.exit(time.time() - os.path.getmtime('${STATUS_FILE}') > 300)`], {
      initialDelaySeconds: Duration.seconds(60),
      periodSeconds: Duration.seconds(30),
      timeoutSeconds: Duration.seconds(10),
    }),
    resources: { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) } },
  };
}

/**
 * The broker's container (agent/broker.py): the only holder of fail2ban's socket besides fail2ban, which answers
 * the agent's ban commands (list, ban, unban, list with times) for the jails and operations it allows, re-checking
 * every address, and what features add (a pod-log jail's files, the metrics' reads). Root to reach fail2ban's
 * socket, but no capability and no token; its socket is writable for the agent's group only.
 */
export function banBrokerContainer(props: NodeAgentProps & { readonly run: kplus.Volume }): kplus.ContainerProps {
  return {
    name: 'ban-broker',
    ...fromAgentPackage(props.image, 'agent.broker'),
    envVariables: values({
      F2B_SOCKET: `${RUN_DIR}/fail2ban.sock`,
      BROKER_SOCKET,
      BROKER_JAILS: JSON.stringify(props.settings.brokerJails),
      NEVER_BAN: props.settings.neverBan.join(' '),
      PYTHONDONTWRITEBYTECODE: '1',
    }),
    volumeMounts: [
      { path: RUN_DIR, volume: props.run },
      { path: HANDOFF_DIR, volume: props.handoff },
      { path: AGENT_HOME, volume: props.code, readOnly: true },
    ],
    securityContext: { ...RESTRICTED, ensureNonRoot: false, user: 0, group: AGENT_UID },
    resources: { cpu: { request: kplus.Cpu.millis(5) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } },
  };
}
