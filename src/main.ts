import { App, Chart, Duration } from 'cdk8s';
import { hostLog } from './config/log-path';
import { Fail2ban, Fail2banProps } from './fail2ban';
import { runSynth } from './synth/cli';

/** The homelab's fail2ban, as the operations document's tables describe it. */
export const homelab: Fail2banProps = {
  namespace: 'fail2ban',
  image: 'crazymax/fail2ban:1.0.2',
  // The hosts' zone: fail2ban compares log times (written without offset) with its own clock.
  timeZone: 'UTC',
  defaults: {
    // Loopback + Tailscale CGNAT: tailnet peers are never banned.
    ignoreIp: ['127.0.0.1/8', '::1', '100.64.0.0/10'],
    banAction: 'nftables-multiport',
    backend: 'auto',
    findTime: Duration.minutes(10),
    banTime: Duration.hours(1),
    maxRetry: 5,
  },
  jails: [
    { name: 'sshd', logPath: hostLog('auth.log'), maxRetry: 3, banTime: Duration.hours(24) },
    { name: 'k3s-apiserver', filter: 'k3s-apiserver', logPath: hostLog('syslog'), maxRetry: 10, banTime: Duration.hours(1) },
  ],
};

/** The app `npm run synth` writes: one chart holding the homelab's fail2ban. */
export function buildApp(props: Fail2banProps = homelab): App {
  const app = new App();
  new Fail2ban(new Chart(app, 'fail2ban'), 'fail2ban', props);
  return app;
}

/** `npm run synth [-- --out DIR]`. */
export function main(argv: string[] = process.argv.slice(2)): void {
  process.exitCode = runSynth(argv, () => buildApp());
}

if (require.main === module) {
  main();
}
