import { homelab } from '../main';
import { bansSettings } from './settings';
import { execFileKubectl } from './kubectl';
import { runBans } from './run';

/** `npm run bans -- …` against the homelab's fail2ban (src/main.ts); resolves to the exit code. */
export function main(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runBans(argv, bansSettings(homelab), {
    kubectl: execFileKubectl(env.KUBECTL || 'kubectl', env),
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    summaryFile: env.GITHUB_STEP_SUMMARY || undefined,
  });
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
