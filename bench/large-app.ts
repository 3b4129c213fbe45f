// A synthetic configuration of 50 jails and 50 filters, run through the same synth as src/main.ts.
import { App, Chart, Duration } from 'cdk8s';
import { hostLog } from '../src/model/log-path';
import { Fail2ban } from '../src/fail2ban';
import { homelab, paths } from '../src/main';
import { runSynth } from '../src/synth/cli';

const COUNT = 50;
const filters = Array.from({ length: COUNT }, (_, i) => ({
  name: `bench-${i}`,
  content: `# Benchmark filter ${i}.\n[INCLUDES]\nbefore = common.conf\n\n[Definition]\nfailregex = ^service${i}\\[\\d+\\]: failure from <ADDR>$\nignoreregex =\n`,
}));
const jails = filters.map((filter, i) => ({ name: filter.name, filter: filter.name, logPath: hostLog(`bench-${i}.log`), maxRetry: 3 + (i % 5), banTime: Duration.hours(1 + i) }));

process.exitCode = runSynth(
  process.argv.slice(2),
  () => {
    const app = new App();
    const manifests = new Chart(app, 'fail2ban');
    new Fail2ban(manifests, 'fail2ban', { ...homelab, jails, filters });
    return { manifests };
  },
  paths,
);
