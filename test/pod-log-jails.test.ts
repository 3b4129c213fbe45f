import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithTools } from './fail2ban-tools';
import { FIXTURE, FIXTURE_TRAEFIK } from './fixture';
import { synthesize } from './harness/lab';
import { SHARING_PROPS, SharingLab, SharingNode } from './harness/sharing-lab';
import { waitFor } from './harness/wait';

// GIVEN the fixture with a Traefik jail on pod logs (podLogs: kube-system, Deployment traefik, container traefik),
// shared cluster-wide, synthesized and run on three lab nodes: each a real fail2ban-server, the synthesized broker and
// agent, the agent seeing the node's pod logs where the pod mounts them (the kubelet's layout, /var/log/pods);
// WHEN a Traefik pod appears on one node after everything started, and its clients fail basic-auth, through a
// container restart, a rotation, a rescheduling and a fail2ban restart; THEN every time the failures count, the
// client is banned in nftables there and on the other nodes, and neither log fills with errors.
const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare', 'openssl'];
const JAIL = FIXTURE_TRAEFIK.name;
const MAX_RETRY = 3;
const props = {
  ...SHARING_PROPS,
  jails: [...FIXTURE.jails, { ...FIXTURE_TRAEFIK, maxRetry: MAX_RETRY }],
  banSharing: { kubernetesVersion: '1.31', jails: ['sshd', JAIL] },
};
/** The kubelet's directory of a pod: `<namespace>_<pod>_<uid>`. */
const POD = {
  first: 'kube-system_traefik-6f5f8d8d4c-x7k2p_3b0e8a4c-8a2b-4d36-9d0e-6f2d8f9b1a11',
  rescheduled: 'kube-system_traefik-6f5f8d8d4c-b9w2m_0d6c1a7e-1111-4222-8333-944455556666',
};
/** What the fail2ban container reads them as. */
const CONTAINER_PODS = '/var/log/host/pods';

/** A 401 in Traefik's JSON access log, as containerd writes it to the pod log now. */
function failure(client: string, port: number): string {
  const now = new Date().toISOString();
  return (
    `${now.replace('Z', '123456Z')} stdout F {"ClientAddr":"${client}:${port}","ClientHost":"${client}","ClientPort":"${port}","ClientUsername":"admin",` +
    `"DownstreamContentSize":17,"DownstreamStatus":401,"RequestHost":"app.example.com","RequestMethod":"GET","RequestPath":"/admin",` +
    `"RouterName":"websecure-admin-auth@kubernetescrd","entryPointName":"websecure","level":"info","msg":"","time":"${now}"}\n`
  );
}

describeWithTools(TOOLS, 'a pod-log jail follows the pods on a node: real fail2ban-servers, the synthesized agents and brokers', () => {
  let lab: SharingLab;
  let node: SharingNode;
  let port = 40_000;
  beforeAll(async () => {
    lab = await SharingLab.start(synthesize(props));
    node = lab.node('k3s-agent-1');
  });
  afterAll(() => lab?.destroy());

  const logFile = (pod: string, file = '0.log') => path.join(node.podLogsDir, pod, 'traefik', file);
  /** The jail's files as fail2ban lists them, /dev/null (its file before any pod) left out. */
  const watched = (on: SharingNode = node) =>
    on.server
      .client('get', JAIL, 'logpath')
      .split('\n')
      .map((line) => line.replace(/^[|`]- /, ''))
      .filter((line) => line.startsWith('/') && line !== '/dev/null')
      .sort();
  const write = (file: string, lines: string) => fs.appendFileSync(file, lines);

  async function failAndExpectBan(file: string, client: string, count = MAX_RETRY): Promise<void> {
    write(file, Array.from({ length: count }, () => failure(client, ++port)).join(''));
    await waitFor(`${client} banned in ${JAIL} on ${node.name}`, () => node.nftSet(JAIL).includes(client));
    for (const other of lab.nodes.filter((n) => n !== node)) {
      await waitFor(`${client} applied by ${other.name}`, () => other.nftSet(`${JAIL}-cluster`).includes(client));
    }
  }

  test('without a Traefik pod every node runs the jail, reading no file', () => {
    for (const each of lab.nodes) {
      expect(each.server.client('status')).toContain(JAIL);
      expect(watched(each)).toEqual([]);
    }
  });

  test('a pod created after fail2ban started: its file is read from its start, and its clients are banned on every node', async () => {
    fs.mkdirSync(path.dirname(logFile(POD.first)), { recursive: true });
    write(logFile(POD.first), failure('203.0.113.50', ++port)); // before the agent has seen the file
    await waitFor('the agent to add the new file', () => watched().length === 1);
    expect(watched()).toEqual([`${CONTAINER_PODS}/${POD.first}/traefik/0.log`]);
    write(logFile(POD.first), Array.from({ length: MAX_RETRY - 1 }, () => failure('203.0.113.50', ++port)).join(''));
    await waitFor('the ban', () => node.nftSet(JAIL).includes('203.0.113.50'));
    for (const other of lab.nodes.filter((n) => n !== node)) {
      await waitFor(`the ban applied by ${other.name}`, () => other.nftSet(`${JAIL}-cluster`).includes('203.0.113.50'));
      expect(watched(other)).toEqual([]);
    }
  });

  test('the container restarts: 1.log is read too', async () => {
    write(logFile(POD.first, '1.log'), '');
    await waitFor('the agent to add 1.log', () => watched().length === 2);
    await failAndExpectBan(logFile(POD.first, '1.log'), '203.0.113.51');
  });

  test('the kubelet rotates the log: fail2ban reads on in the new file, and the rotated one is not added', async () => {
    fs.renameSync(logFile(POD.first, '1.log'), logFile(POD.first, '1.log.20261206-100000'));
    write(logFile(POD.first, '1.log'), '');
    await failAndExpectBan(logFile(POD.first, '1.log'), '203.0.113.52');
    expect(watched()).toEqual([`${CONTAINER_PODS}/${POD.first}/traefik/0.log`, `${CONTAINER_PODS}/${POD.first}/traefik/1.log`]);
  });

  test('the pod is deleted and rescheduled under a new directory: the old files are dropped, the new one counts', async () => {
    fs.rmSync(path.join(node.podLogsDir, POD.first), { recursive: true });
    fs.mkdirSync(path.dirname(logFile(POD.rescheduled)), { recursive: true });
    write(logFile(POD.rescheduled), '');
    await waitFor('the agent to follow the new pod', () => watched().join() === `${CONTAINER_PODS}/${POD.rescheduled}/traefik/0.log`);
    await failAndExpectBan(logFile(POD.rescheduled), '203.0.113.53');
  });

  test('fail2ban restarts: the agent adds the file again, failures written meanwhile count, and none counts twice', async () => {
    const counted = node.server.serverLog().split(`[${JAIL}] Found 203.0.113.53 `).length - 1;
    expect(counted).toBe(MAX_RETRY);
    await node.server.stopServer();
    write(logFile(POD.rescheduled), failure('203.0.113.54', ++port));
    await node.server.startServer();
    await waitFor('the agent to add the file again', () => watched().length === 1);
    await failAndExpectBan(logFile(POD.rescheduled), '203.0.113.54', MAX_RETRY - 1);
    // fail2ban's database kept how far it had read the file: the lines before the restart were not read again
    expect(node.server.serverLog().split(`[${JAIL}] Found 203.0.113.53 `).length - 1).toBe(counted);
  });

  test('no log filled with errors: each of the agent’s errors said once, none by fail2ban about pod logs', () => {
    const errors = node.agentLog().split('\n').filter((line) => / error: /.test(line)).map((line) => line.slice(13));
    // While fail2ban restarts, its socket is gone, then refuses, then knows no jail yet: a few errors, each said once.
    expect(errors).toEqual([...new Set(errors)]);
    expect(errors.length).toBeLessThanOrEqual(10);
    expect(node.server.serverLog().split('\n').filter((line) => / ERROR /.test(line) && line.includes(CONTAINER_PODS))).toEqual([]);
  });
});
