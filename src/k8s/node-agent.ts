import * as fs from 'node:fs';
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { packagePath } from '../model/package-path';

/** The node agent's Python package in this repository (`agent/`), without its tests. */
export const AGENT_DIR = packagePath('agent');

/** Where the agent's package is mounted; it runs as `python3 -m agent` from there. */
const AGENT_HOME = '/opt/node-agent';

/** Shared by the fail2ban container and the agent (memory-backed): fail2ban's socket, the agent's status file. */
export const RUN_DIR = '/var/run/fail2ban';
const STATUS_FILE = `${RUN_DIR}/node-agent.status`;

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

/** Props of the node agent's container. */
export interface NodeAgentProps {
  /** The image: fail2ban's own, which has Python and fail2ban's socket client. */
  readonly image: string;
  /** The hosts' time zone (fail2ban's ban lists are in local time). */
  readonly timeZone: string;
  /** The ConfigMap volume holding the agent's package, mapped to `agent/` by items. */
  readonly code: kplus.Volume;
  /** The directory it shares with the fail2ban container. */
  readonly run: kplus.Volume;
}

/**
 * The node agent's container (agent/): the same image as fail2ban, no capabilities, a read-only root filesystem,
 * root only to reach fail2ban's socket. Features give it their settings through its environment.
 */
export function nodeAgentContainer(props: NodeAgentProps): kplus.ContainerProps {
  return {
    name: 'node-agent',
    image: props.image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['/usr/bin/python3', '-m', 'agent'],
    workingDir: AGENT_HOME,
    envVariables: {
      NODE_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.NODE_NAME),
      TZ: kplus.EnvValue.fromValue(props.timeZone),
      F2B_SOCKET: kplus.EnvValue.fromValue(`${RUN_DIR}/fail2ban.sock`),
      STATUS_FILE: kplus.EnvValue.fromValue(STATUS_FILE),
      // The code is on a read-only volume.
      PYTHONDONTWRITEBYTECODE: kplus.EnvValue.fromValue('1'),
    },
    volumeMounts: [
      { path: RUN_DIR, volume: props.run },
      { path: AGENT_HOME, volume: props.code, readOnly: true },
    ],
    securityContext: {
      ensureNonRoot: false,
      user: 0,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: [kplus.Capability.ALL] },
      seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
    },
    // The agent touches its status file after every successful round with the API.
    liveness: kplus.Probe.fromCommand(['/usr/bin/python3', '-c', `import os,sys,time; sys.exit(time.time() - os.path.getmtime('${STATUS_FILE}') > 300)`], {
      initialDelaySeconds: Duration.seconds(60),
      periodSeconds: Duration.seconds(30),
      timeoutSeconds: Duration.seconds(10),
    }),
    resources: { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) } },
  };
}
