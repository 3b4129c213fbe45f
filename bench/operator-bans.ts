// `npm run bench:operator-bans`: how fast an operator's ban and unban reach every node, on the lab the end-to-end
// test uses (three real fail2ban-servers in network namespaces with the synthesized agent and broker, the stand-in
// Kubernetes API, the ban CLI with the real kubectl; root needed). The test checks what happens; this prints how
// long it takes, next to the goal the README states. Environment: BENCH_ROUNDS (default 10).
import { bansSettings } from '../src/bans/settings';
import { execFileKubectl } from '../src/bans/kubectl';
import { runBans } from '../src/bans/run';
import { fixture } from '../test/fixture';
import { SHARING_PROPS } from '../test/harness/sharing-lab';
import { JAIL, SharingSession } from '../test/harness/sharing-session';
import { Figure, printFigures } from './figures';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const OPERATOR = `${JAIL}-operator`;

async function main(): Promise<void> {
  const figures = {
    ban: { what: 'ban: the API answered the write -> in nftables on every node', goalMs: 2000, values: [] as number[] },
    unban: { what: 'unban: the API answered the write -> gone from nftables on every node', goalMs: 2000, values: [] as number[] },
    cli: { what: 'npm run bans -- ban, start -> every node reported (the whole command)', goalMs: 5000, values: [] as number[] },
  } satisfies Record<string, Figure>;
  const settings = bansSettings(fixture(SHARING_PROPS));
  const session = new SharingSession();
  await session.start();
  const kubectl = execFileKubectl('kubectl', { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: session.lab.managerKubeconfig() });
  const bans = async (...argv: string[]): Promise<number> => {
    const output: string[] = [];
    const code = await runBans(argv, settings, { kubectl, out: (text) => output.push(text), err: (text) => output.push(text) });
    if (code !== 0) throw new Error(`npm run bans -- ${argv.join(' ')}: exit ${code}\n${output.join('\n')}`);
    return code;
  };
  /** When the ban manager's last write was answered. */
  const lastWrite = (): number => session.lab.kube.requests.filter((r) => r.identity?.username === 'ban-manager' && (r.method === 'POST' || r.method === 'PUT')).pop()!.at;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const ip = `198.18.${round}.1`;
      const start = Date.now();
      await bans('ban', '--jail', JAIL, '--ip', ip);
      figures.cli.values.push(Date.now() - start);
      const written = lastWrite();
      figures.ban.values.push(Math.max(...session.lab.nodes.map((node) => node.nftEventAt('add', OPERATOR, ip, written)! - written)));
      await bans('unban', '--jail', JAIL, '--ip', ip);
      const unbanned = lastWrite();
      figures.unban.values.push(Math.max(...session.lab.nodes.map((node) => node.nftEventAt('delete', OPERATOR, ip, unbanned)! - unbanned)));
    }
  } finally {
    await session.destroy();
  }
  console.log(`operator bans, ${ROUNDS} rounds on three nodes (each figure: the slowest node of the round):`);
  printFigures(Object.values(figures), 72);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
