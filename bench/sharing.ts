// `npm run bench:sharing`: how fast cluster-wide ban sharing moves bans, on the lab the sharing tests use (three real
// fail2ban-servers in network namespaces, the synthesized agent, the stand-in Kubernetes API; root needed). The
// tests check what happens; this prints how long it takes, next to the goals the README states.
// Environment: BENCH_ROUNDS (default 10).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SharingSession } from '../test/harness/sharing-session';
import { Figure, printFigures } from './figures';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);

async function main(): Promise<void> {
  const figures = {
    propagation: { what: "ban from a node's logs: origin's nftables -> every other node's", goalMs: 2000, values: [] as number[] },
    ownerUnban: { what: "owner unban: origin's nftables -> every other node's", goalMs: 2000, values: [] as number[] },
    adminDelete: { what: 'administrator deletes the record: DELETE answered -> every node', goalMs: 2000, values: [] as number[] },
    recordEnd: { what: "a record's end -> unbanned on every other node (after the end)", goalMs: 1000, values: [] as number[] },
    catchUpApplied: { what: 'pod down, back: start -> the ban it missed in nftables', goalMs: 2000, values: [] as number[] },
    catchUpExact: { what: "pod down, back: start -> mirror exactly the ledger's records (polled)", goalMs: 5000, values: [] as number[] },
  } satisfies Record<string, Figure>;

  const session = new SharingSession();
  await session.start();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const [origin, late] = [session.lab.nodes[round % 3], session.lab.nodes[(round + 1) % 3]];
      const ip = (n: number) => `198.18.${round}.${n}`;
      figures.propagation.values.push(...(await session.banEverywhere(origin, ip(1), 'logs')));
      figures.ownerUnban.values.push(...(await session.ownerUnban(origin, ip(1))));
      await session.banEverywhere(origin, ip(2), 'banip');
      figures.adminDelete.values.push(...(await session.adminDelete(origin, ip(2))));
      figures.recordEnd.values.push(...(await session.recordThatEnds(origin, ip(3), 2)));
      await session.banEverywhere(origin, ip(4), 'banip');
      const caughtUp = await session.catchUp(late, origin, ip(5), ip(4));
      figures.catchUpApplied.values.push(caughtUp.appliedMs);
      figures.catchUpExact.values.push(caughtUp.exactMs);
    }
  } finally {
    await session.destroy();
  }

  console.log(`ban sharing, ${ROUNDS} rounds on three nodes (each round: every step once):`);
  printFigures(Object.values(figures), 76);
  fs.mkdirSync(path.join('dist', 'bench'), { recursive: true });
  fs.writeFileSync(path.join('dist', 'bench', 'sharing.json'), JSON.stringify(figures));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
