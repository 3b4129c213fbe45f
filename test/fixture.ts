import { Duration } from 'cdk8s';
import { K3S_POD_CIDR, K3S_SERVICE_CIDR } from '../src/model/cluster';
import { JailDefaults, JailProps } from '../src/model/jail';
import { k3sApiserverAuditJail } from '../src/model/k3s-audit';
import { hostLog } from '../src/model/log-path';
import { Fail2banProps } from '../src/resolve/props';

// The cluster the library's tests run on. Its values are the tests' own, written here and never read from
// src/main.ts: a user who changes the homelab's settings changes no test but the homelab's (test/homelab.test.ts).
// They mirror a typical k3s homelab: sshd and the k3s API server on every node, a tailnet that is never banned.

/** The fixture's `[DEFAULT]` section. */
export const FIXTURE_DEFAULTS: JailDefaults = {
  ignoreIp: ['127.0.0.1/8', '::1', '100.64.0.0/10'],
  banAction: 'nftables-batch',
  backend: 'auto',
  findTime: Duration.minutes(10),
  banTime: Duration.hours(1),
  maxRetry: 5,
};

/** sshd: 3 failures, banned for a day. */
export const FIXTURE_SSHD: JailProps = { name: 'sshd', logPath: hostLog('auth.log'), maxRetry: 3, banTime: Duration.hours(24) };

/** The k3s API server from syslog: 10 failures, banned for an hour. */
export const FIXTURE_K3S_APISERVER: JailProps = {
  name: 'k3s-apiserver',
  filter: 'k3s-apiserver',
  logPath: hostLog('syslog'),
  maxRetry: 10,
  banTime: Duration.hours(1),
};

/** The audit-log jail with the library's defaults, off as it ships. */
export const FIXTURE_AUDIT: JailProps = k3sApiserverAuditJail({ enabled: false });

/** k3s's Traefik from its pod log (JSON access log): 401s on the entry points, banned before ServiceLB forwards; not in FIXTURE, for the tests of pod-log jails. */
export const FIXTURE_TRAEFIK: JailProps = {
  name: 'traefik-auth',
  filter: 'traefik-auth-json-cri',
  podLogs: { namespace: 'kube-system', workload: 'traefik', container: 'traefik' },
  port: '80,443',
  blocks: 'host-and-forwarded',
  maxRetry: 10,
};

/** The fixture cluster's fail2ban: sshd, k3s-apiserver and the audit-log jail (off), with a ban manager. */
export const FIXTURE: Fail2banProps = {
  namespace: 'fail2ban',
  image: 'crazymax/fail2ban:1.0.2',
  timeZone: 'UTC',
  cluster: { podCidr: K3S_POD_CIDR, serviceCidr: K3S_SERVICE_CIDR, nodeAddresses: [] },
  banManager: { github: { repository: 'example-user/homelab' } },
  defaults: FIXTURE_DEFAULTS,
  jails: [FIXTURE_SSHD, FIXTURE_K3S_APISERVER, FIXTURE_AUDIT],
};

/** The fixture with some props replaced. */
export function fixture(changes: Partial<Fail2banProps> = {}): Fail2banProps {
  return { ...FIXTURE, ...changes };
}

/** The fixture's jails with one jail's settings changed, for `fixture({ ...withJail('sshd', { maxRetry: 4 }) })`. */
export function withJail(name: string, settings: Partial<JailProps>): { jails: JailProps[] } {
  if (!FIXTURE.jails.some((jail) => jail.name === name)) throw new Error(`the fixture has no jail ${name}`);
  return { jails: FIXTURE.jails.map((jail) => (jail.name === name ? { ...jail, ...settings } : jail)) };
}
