import { addressObjectName } from '../src/model/address-name';
import { bansSettings } from '../src/bans/settings';
import { execFileKubectl } from '../src/bans/kubectl';
import { runBans } from '../src/bans/run';
import { describeWithTools } from './fail2ban-tools';
import { fixture } from './fixture';
import { NodeName, SHARING_PROPS } from './harness/sharing-lab';
import { JAIL, MIRROR, rfc3339, SharingSession } from './harness/sharing-session';

// Operator bans end to end (docs/operator-bans.md): `npm run bans` with the real kubectl writes OperatorBan objects
// to the stand-in API as the ban manager; on three nodes the real agent applies them through the real broker to a
// real fail2ban-server and reports in its Fail2banNode. Nobody execs into anything.

const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare', 'openssl', 'kubectl'];
const OPERATOR = 'sshd-operator';

describeWithTools(
  TOOLS,
  'operator bans through the API: three fail2ban-servers with their agents and brokers, the ban CLI with kubectl',
  () => {
    const s = new SharingSession();
    const settings = bansSettings(fixture(SHARING_PROPS));
    let kubeconfig: string;
    beforeAll(async () => {
      await s.start();
      kubeconfig = s.lab.managerKubeconfig();
    });
    afterAll(() => s.destroy());

    async function bans(...argv: string[]): Promise<{ code: number; out: string }> {
      const out: string[] = [];
      const code = await runBans(argv, settings, {
        kubectl: execFileKubectl('kubectl', { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: kubeconfig }),
        out: (text) => out.push(text),
        err: (text) => out.push(text),
      });
      return { code, out: out.join('\n') };
    }

    /** What a node's report says of an order, and what it lists for a jail. */
    const report = (node: NodeName) => s.lab.kube.objectsOf('fail2bannodes').get(node)?.status;
    const everywhere = (jail: string, ip: string) => s.lab.nodes.every((node) => node.nftSet(jail).includes(ip));
    const nowhere = (jail: string, ip: string) => s.lab.nodes.every((node) => !node.nftSet(jail).includes(ip));

    test('a ban reaches every node through the API, and the CLI returns once every node reported it', async () => {
      const ip = '203.0.113.50';
      const result = await bans('ban', '--jail', JAIL, '--ip', ip);
      expect(result).toMatchObject({ code: 0 });
      // The CLI waited for the reports: each node's fail2ban holds the ban, and hands it to nftables in its next batch.
      for (const node of s.lab.nodes) {
        expect(report(node.name).orders[addressObjectName(JAIL, ip)]).toMatchObject({ generation: 1, result: 'changed' });
        expect(node.server.banned(OPERATOR)).toContain(ip);
      }
      await s.until('the ban in nftables on every node', () => everywhere(OPERATOR, ip));
      const order = s.lab.kube.objectsOf('operatorbans').get(addressObjectName(JAIL, ip));
      expect(order.spec).toMatchObject({ jail: JAIL, ip, action: 'ban' });
    });

    test('a node that is down during a ban is named, and applies the ban when it is back', async () => {
      const ip = '2001:db8::51';
      const late = s.lab.node('k3s-agent-2');
      await late.stopAgent();
      const result = await bans('ban', '--jail', JAIL, '--ip', ip, '--timeout', '2');
      expect(result.code).toBe(1);
      expect(result.out).toContain('k3s-agent-2');
      expect(s.lab.nodes.filter((node) => node.server.banned(OPERATOR).includes(ip)).map((node) => node.name).sort()).toEqual(['k3s-agent-1', 'k3s-server']);

      await late.startAgent();
      await s.until('k3s-agent-2 to apply the ban it missed', () => late.nftSet(OPERATOR).includes(ip));
      await s.until("k3s-agent-2's report to list it", () => report('k3s-agent-2').jails?.[OPERATOR]?.addresses.includes(ip));
      const list = await bans('list', '--jail', JAIL);
      expect(list.code).toBe(0);
      expect(list.out).toContain(ip);
    });

    test('an unban lifts the address in the jail on every node, whoever banned it: fail2ban, sharing or an operator', async () => {
      const ip = '203.0.113.52';
      const origin = s.lab.node('k3s-server');
      // fail2ban bans it on k3s-server (its own jail), sharing on the others (their mirrors), an operator everywhere.
      await s.banEverywhere(origin, ip, 'banip');
      expect((await bans('ban', '--jail', JAIL, '--ip', ip)).code).toBe(0);
      await s.until('the operator ban in nftables on every node', () => everywhere(OPERATOR, ip));

      const result = await bans('unban', '--jail', JAIL, '--ip', ip);
      expect(result).toMatchObject({ code: 0 });
      for (const node of s.lab.nodes) for (const jail of [JAIL, MIRROR, OPERATOR]) expect(node.server.banned(jail)).not.toContain(ip);
      await s.until('the address gone from nftables on every node', () => [JAIL, MIRROR, OPERATOR].every((jail) => nowhere(jail, ip)));
      // k3s-server's own record goes the usual way, and no mirror applies it again meanwhile.
      s.withdrawn.push(`${addressObjectName(JAIL, ip)}.${origin.name}`);
      await s.until('the origin to delete its record', () => ![...s.lab.kube.objects.values()].some((o: any) => o.spec.ip === ip));
      await s.barrier(origin);
      for (const jail of [JAIL, MIRROR, OPERATOR]) expect(nowhere(jail, ip)).toBe(true);
    });

    test('an order the API should have refused is refused by every agent too, and nothing is banned', async () => {
      // The cluster block (192.0.2.240/28) is never banned: the CRD's rule refuses it, and so does every agent when
      // an object gets past it (here: written by an administrator to a stand-in without CEL).
      const ip = '192.0.2.241';
      const name = addressObjectName(JAIL, ip);
      const { status } = await s.lab.kube.call('POST', s.lab.kube.path(undefined, 'operatorbans'), s.lab.adminToken, {
        apiVersion: `${settings.group}/v1`,
        kind: 'OperatorBan',
        metadata: { name, namespace: settings.namespace },
        spec: { jail: JAIL, ip, action: 'ban', orderedAt: rfc3339(Math.floor(Date.now() / 1000)) },
      });
      expect(status).toBe(201);
      await s.until('every node to report the order refused', () => s.lab.nodes.every((node) => report(node.name)?.orders?.[name]?.result === 'refused'));
      for (const node of s.lab.nodes) expect(report(node.name).orders[name].detail).toContain('192.0.2.240/28');
      expect(nowhere(OPERATOR, ip)).toBe(true);
    });

    test('the CLI refuses never-ban addresses itself and sends nothing', async () => {
      const requests = s.lab.kube.requests.length;
      for (const ip of ['0.0.0.0', '255.255.255.255', '224.0.0.1', '169.254.1.1', '127.0.0.1', '192.0.2.241']) {
        expect((await bans('ban', '--jail', JAIL, '--ip', ip)).code).toBe(2);
      }
      expect(s.lab.kube.requests.slice(requests).filter((r) => r.identity?.username === 'ban-manager')).toEqual([]);
    });

    test('over the whole run, the agents wrote to the ledger only what fail2ban banned and unbanned', () => s.checkWrites());
  },
  { root: true },
);
