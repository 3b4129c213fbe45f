import dedent from 'ts-dedent';
import { isJailEnabled, jailsOf } from '../../read/jail-local';
import { DeploymentFacts } from './facts';
import { code, table } from './markdown';

/** The GitHub Actions workflow that runs `npm run bans` (`.github/workflows/manage-fail2ban.yml`). */
export const MANAGE_WORKFLOW = 'Manage Fail2ban';

function enabledJails(facts: DeploymentFacts): string {
  const names = jailsOf(facts.jailLocal)
    .filter((jail) => isJailEnabled(jail, facts.jailLocal))
    .map((jail) => code(jail.name));
  return names.length === 0 ? 'none' : names.join(', ');
}

function runner(facts: DeploymentFacts): string {
  return facts.banManager === undefined
    ? 'It needs a kubeconfig that may list pods and nodes and exec into the fail2ban pods.'
    : `Its runner is the self-hosted one on the k3s server; the job signs in with its own short-lived GitHub token as ${code(facts.banManager)} (no stored credential): it may list pods and nodes and exec into the fail2ban pods, nothing else (README: "From GitHub Actions").`;
}

/** The Managing bans section: the command line, its exit codes, and the workflow that runs it. */
export function bansSection(facts: DeploymentFacts): string {
  return dedent`
    ## Managing bans

    Bans are per node: each node's fail2ban bans in that node's nftables. \`npm run bans\` finds the fail2ban pod on
    every node and runs \`fail2ban-client\` in each through \`kubectl exec\`, so a ban or unban reaches every node and
    a list shows the nodes that disagree. Do not run \`fail2ban-client\` on one pod by hand: the other nodes would not
    follow.

    \`\`\`sh
    npm run bans -- list [--jail NAME] [--json]
    npm run bans -- ban --jail NAME --ip ADDRESS
    npm run bans -- unban --jail NAME --ip ADDRESS
    \`\`\`

    \`--jail\` takes an enabled jail (now ${enabledJails(facts)}); \`list\` shows every jail without it. \`--ip\` takes
    exactly one IPv4 or IPv6 address. \`ban\` refuses an address inside \`ignoreip\`; \`unban\` accepts it, to undo a
    wrong manual ban. Every change is read back from each node, so running it again is safe.

    ${table(
      ['Exit code', 'Meaning'],
      [
        ['0', 'done (or already so) on every node'],
        ['1', 'some node failed, has no Running and Ready pod, or disagrees; each is named (a ban still reaches the others)'],
        ['2', 'usage or validation error; nothing was run'],
      ],
    )}

    Without cluster access, run the GitHub Actions workflow **${MANAGE_WORKFLOW}** (Actions → ${MANAGE_WORKFLOW} →
    Run workflow). It runs the same command and writes the result to the job summary. ${runner(facts)}

    ${table(
      ['Input', 'Value'],
      [
        ['action', `${code('list_bans')}, ${code('ban')} or ${code('unban')}`],
        ['jail', `the jail (default ${code('sshd')})`],
        ['ip', 'the address, for ban and unban'],
      ],
    )}
  `;
}
