import { Duration } from 'cdk8s';
import { JailProps } from '../src/model/jail';
import { Fail2banLab, synthesize } from './harness/lab';
import { waitFor } from './harness/wait';
import { describeWithTools } from './fail2ban-tools';
import { FIXTURE } from './fixture';

// GIVEN jails on Traefik's pod logs (CRI lines, filters/cri.inc), synthesized with TZ=Europe/Berlin and run by a real
// fail2ban-server; WHEN Traefik's 401s are appended as containerd writes them, stamped with the current time in UTC;
// THEN the clients are banned in nftables, no line was taken for another time, and neither a partial line nor the
// tail after it nor a forwarded address is counted. Every check waits for what fail2ban logged.
const TIME_ZONE = 'Europe/Berlin';
const MAX_RETRY = 3;
/** Two Traefik pods' container logs, as the kubelet lays them out under the host's /var/log. */
const POD_LOG = {
  json: '/var/log/host/pods/kube-system_traefik-6f5f8d8d4c-x7k2p_3b0e8a4c-8a2b-4d36-9d0e-6f2d8f9b1a11/traefik/0.log',
  clf: '/var/log/host/pods/kube-system_traefik-5c9d7b6f4-q2w8z_7d1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b/traefik/0.log',
};
const podLogJail = (name: string, filter: string, logPath: string): JailProps => ({
  name,
  filter,
  logPath,
  maxRetry: MAX_RETRY,
  findTime: Duration.minutes(10),
  banTime: Duration.hours(1),
  port: '80,443',
  blocks: 'host-and-forwarded',
});
const JAILS = {
  json: podLogJail('traefik-json', 'traefik-auth-json-cri', POD_LOG.json),
  clf: podLogJail('traefik-clf', 'traefik-auth-cri', POD_LOG.clf),
};
const config = synthesize({ timeZone: TIME_ZONE, jails: [...FIXTURE.jails, JAILS.json, JAILS.clf] });

/** containerd's timestamp of now: RFC 3339 in UTC with nine fraction digits. */
const criNow = () => new Date().toISOString().replace('Z', '123456Z');
const cri = (content: string, tag: 'F' | 'P' = 'F') => `${criNow()} stdout ${tag} ${content}`;
const clfNow = () => {
  const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) (\S+) GMT$/.exec(new Date().toUTCString())!;
  return `${day.padStart(2, '0')}/${month}/${year}:${time} +0000`;
};

/** A 401 in Traefik's JSON access log: ClientAddr is the TCP peer, ClientHost what X-Forwarded-For said. */
function jsonFailure(peer: string, port: number, clientHost = peer.replace(/^\[|\]$/g, '')): string {
  return cri(
    `{"ClientAddr":"${peer}:${port}","ClientHost":"${clientHost}","ClientPort":"${port}","ClientUsername":"admin","DownstreamContentSize":17,"DownstreamStatus":401,` +
      `"Duration":181402,"RequestHost":"app.example.com","RequestMethod":"GET","RequestPath":"/admin","RequestProtocol":"HTTP/2.0","RouterName":"websecure-admin-auth@kubernetescrd",` +
      `"entryPointName":"websecure","level":"info","msg":"","time":"${new Date().toISOString()}"}`,
  );
}

/** A 401 in Traefik's common log format, the user name dropped as filters/traefik-auth-cri.conf requires. */
const clfFailure = (client: string, count: number) =>
  cri(`${client} - - [${clfNow()}] "GET /admin HTTP/1.1" 401 17 "-" "-" ${count} "websecure-admin-auth@kubernetescrd" "-" 0ms`);

/** A long access-log line of `client` split by containerd, its tail a whole 401 line for `forged` (cri.inc). */
const forgedTail = (client: string, forged: string, count: number) => [
  cri(`${client} - - [${clfNow()}] "GET / HTTP/1.1" 200 5 "-" "Mozilla/5.0 ${'x'.repeat(200)}`, 'P'),
  cri(`${forged} - - [${clfNow()}] "GET /admin HTTP/1.1" 401 17 "-" "-" ${count} "websecure-admin-auth@kubernetescrd" "-" 0ms`),
];

describeWithTools(['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'], `pod-log jails in a real fail2ban-server with TZ=${TIME_ZONE}`, () => {
  const FORGED = '203.0.113.9';
  let lab: Fail2banLab;

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-podlog', config });
  });

  afterAll(() => {
    lab?.destroy();
  });

  test('runs the container with the non-UTC zone, and the jails with cri.inc (maxlines 2, the CRI time with its zone)', () => {
    expect(config.env.TZ).toBe(TIME_ZONE);
    for (const jail of Object.values(JAILS)) {
      expect(lab.client('get', jail.name, 'maxlines')).toBe('2');
      expect(lab.client('get', jail.name, 'datepattern')).toContain('%ExS(?:\\.\\d+)?%z');
    }
  });

  test('the JSON jail bans the TCP peer of CRI lines stamped in UTC, IPv4 and IPv6, in nftables; never a forwarded address', async () => {
    // A forwarded address (ClientHost) on every failure, and a forged tail after a partial line first.
    lab.appendLog(POD_LOG.json, [
      cri(`{"ClientAddr":"198.51.100.40:50030","ClientHost":"198.51.100.40","ClientPort":"50030","ClientUsername":"${'u'.repeat(120)}`, 'P'),
      cri(`{\\"ClientAddr\\":\\"${FORGED}:1\\",\\"DownstreamStatus\\":401}","DownstreamContentSize":17,"DownstreamStatus":401,"time":"${new Date().toISOString()}"}`),
      ...Array.from({ length: MAX_RETRY }, (_, i) => jsonFailure('198.51.100.20', 51000 + i, FORGED)),
      ...Array.from({ length: MAX_RETRY }, (_, i) => jsonFailure('[2001:db8::20]', 52000 + i)),
    ]);
    await waitFor('the JSON jail to ban both clients', () => lab.logged('traefik-json', 'Ban', '198.51.100.20') === 1 && lab.logged('traefik-json', 'Ban', '2001:db8::20') === 1);
    await waitFor('both bans in nftables', () => {
      const set = lab.nftSet('traefik-json');
      return set.v4.includes('198.51.100.20') && set.v6.includes('2001:db8::20');
    });
    expect(lab.totalFailed('traefik-json')).toBe(2 * MAX_RETRY);
    expect(lab.serverLog()).not.toContain(`Found ${FORGED}`);
    expect(lab.banned('traefik-json').sort()).toEqual(['198.51.100.20', '2001:db8::20']);
  });

  test('the common-log-format jail bans its clients and never the address a tail after a partial line names', async () => {
    lab.appendLog(POD_LOG.clf, [
      ...Array.from({ length: MAX_RETRY }, (_, i) => forgedTail('198.51.100.41', FORGED, 100 + i)).flat(),
      ...Array.from({ length: MAX_RETRY }, (_, i) => clfFailure('198.51.100.21', 200 + i)),
    ]);
    await waitFor('the common-log-format jail to ban its client', () => lab.logged('traefik-clf', 'Ban', '198.51.100.21') === 1);
    await waitFor('the ban in nftables', () => lab.nftSet('traefik-clf').v4.includes('198.51.100.21'));
    // fail2ban reads a file in order: the forged tails were read before the failures that banned.
    expect(lab.totalFailed('traefik-clf')).toBe(MAX_RETRY);
    expect(lab.serverLog()).not.toContain(`Found ${FORGED}`);
    expect(lab.banned('traefik-clf')).toEqual(['198.51.100.21']);
  });

  test('no line was taken for another time: fail2ban warns of none ("timezone" or "latency" problem)', () => {
    // A CRI time read as local time would be an hour off here, and fail2ban would log "Detected a log entry 1h
    // before the current time in operation mode. This looks like a timezone problem." and count it as now.
    expect(lab.serverLog()).not.toMatch(/Detected a log entry|timing issue/);
  });
}, { root: true });
