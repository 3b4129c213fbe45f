import { App, Chart, Duration } from 'cdk8s';
import { K3S_POD_CIDR, K3S_SERVICE_CIDR } from './model/cluster';
import { githubAuthenticationConfig, PLACEHOLDER_REPOSITORY } from './model/github-actions';
import { k3sApiserverAuditJail, k3sAuditPolicy } from './model/k3s-audit';
import { hostLog } from './model/log-path';
import { Fail2ban } from './fail2ban';
import { Fail2banProps } from './resolve/props';
import { FluxKustomization, FluxKustomizationProps } from './flux/kustomization';
import { SynthPaths, runSynth } from './synth/cli';
import { SynthOutput } from './outputs/manifests';

/** Where the generated files go in this repository. */
export const paths: SynthPaths = {
  manifestsDir: 'k3s/manifests/fail2ban',
  files: {
    flux: 'k3s/flux/fail2ban.yaml',
    // Copied to the k3s server as /etc/rancher/k3s/audit-policy.yaml when the audit-log jail is turned on.
    auditPolicy: 'k3s/host/audit-policy.yaml',
    // Copied to the k3s server as /etc/rancher/k3s/authentication-config.yaml (README: "From GitHub Actions").
    authentication: 'k3s/host/authentication-config.yaml',
  },
  operationsDoc: 'docs/fail2ban.md',
};

/** The homelab's fail2ban, as the operations document's tables describe it. */
export const homelab: Fail2banProps = {
  namespace: 'fail2ban',
  image: 'crazymax/fail2ban:1.0.2',
  // The hosts' zone: fail2ban compares log times (written without offset) with its own clock.
  timeZone: 'UTC',
  // Never banned by any jail: k3s's pod and service networks and the nodes (their addresses go here).
  cluster: { podCidr: K3S_POD_CIDR, serviceCidr: K3S_SERVICE_CIDR, nodeAddresses: [] },
  // The "Manage Fail2ban" workflow, authenticated by its job's GitHub token, may do what `npm run bans` does.
  // Put this repository's owner/name here: the placeholder (a user name GitHub never gives out) matches no token.
  banManager: { github: { repository: PLACEHOLDER_REPOSITORY } },
  defaults: {
    // Loopback + Tailscale CGNAT: tailnet peers are never banned.
    ignoreIp: ['127.0.0.1/8', '::1', '100.64.0.0/10'],
    // The seed's nftables-multiport, with the bans handed to nftables in batches: the same table, chain and sets
    // (README: "Bans at flood scale"); 'nftables-multiport' is fail2ban's own, one process per ban.
    banAction: 'nftables-batch',
    backend: 'auto',
    findTime: Duration.minutes(10),
    banTime: Duration.hours(1),
    maxRetry: 5,
  },
  jails: [
    { name: 'sshd', logPath: hostLog('auth.log'), maxRetry: 3, banTime: Duration.hours(24) },
    { name: 'k3s-apiserver', filter: 'k3s-apiserver', logPath: hostLog('syslog'), maxRetry: 10, banTime: Duration.hours(1) },
    // Off until the k3s server writes its audit log (README: "The audit-log jail").
    k3sApiserverAuditJail({ enabled: false }),
    // The apps behind k3s's Traefik: 401s in its JSON access log, read from its pods' logs wherever they run, banned
    // before ServiceLB forwards to Traefik (README: "Protecting apps behind Traefik"). A browser's first request to a
    // basic-auth site is a 401 too.
    {
      name: 'traefik-auth',
      filter: 'traefik-auth-json-cri',
      podLogs: { namespace: 'kube-system', workload: 'traefik', container: 'traefik' },
      port: '80,443',
      blocks: 'host-and-forwarded',
      maxRetry: 10,
      banTime: Duration.hours(1),
    },
  ],
  // k3s's Traefik writes that access log and sees the clients' addresses (its HelmChartConfig, generated).
  k3sTraefik: { manageHelmChartConfig: true },
  // Each node's jails and the agent's work on the node's cluster address, port 9191 (README: "Metrics"). For a
  // kube-prometheus-stack, add monitoring: { podMonitor: true, alerts: true, dashboard: true, labels: { release: … } }.
  metrics: {},
};

/** How Flux (namespace flux-system) syncs the folder. */
export const fluxSync: Omit<FluxKustomizationProps, 'healthChecks'> = {
  name: 'fail2ban',
  namespace: 'flux-system',
  path: `./${paths.manifestsDir}`,
  sourceRef: { kind: 'GitRepository', name: 'flux-system' },
  interval: Duration.minutes(10),
};

/** What `npm run synth` writes: the homelab's fail2ban, the Flux Kustomization that applies it, the audit policy. */
export function buildApp(props: Fail2banProps = homelab): SynthOutput {
  const app = new App();
  const manifests = new Chart(app, 'fail2ban');
  const fail2ban = new Fail2ban(manifests, 'fail2ban', props);
  const flux = new Chart(app, 'flux');
  new FluxKustomization(flux, 'fail2ban', { ...fluxSync, healthChecks: [fail2ban.daemonSetRef] });
  const authentication = fail2ban.config.banManager && githubAuthenticationConfig(fail2ban.config.banManager.workflow);
  return {
    manifests,
    files: { flux: flux.toJson(), auditPolicy: [k3sAuditPolicy()], ...(authentication && { authentication: [authentication] }) },
    warnings: fail2ban.warnings,
  };
}

/** `npm run synth [-- --out DIR] [--check]` (scripts/synth.js calls it; importing this module runs nothing). */
export function main(argv: string[] = process.argv.slice(2)): void {
  process.exitCode = runSynth(argv, () => buildApp(), paths);
}
