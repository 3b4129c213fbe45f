import dedent from 'ts-dedent';
import { isJailEnabled, jailsOf } from '../../read/jail-local';
import { DeploymentFacts } from './facts';
import { code, table } from './markdown';

/** The GitHub Actions workflow that runs `npm run bans` (`.github/workflows/manage-fail2ban.yml`). */
export const MANAGE_WORKFLOW = 'Manage Fail2ban';

/** The enabled jails that read logs: the jails the node agent holds (operator jails, mirrors) have no filter. */
function enabledJails(facts: DeploymentFacts): string {
  const names = jailsOf(facts.jailLocal)
    .filter((jail) => isJailEnabled(jail, facts.jailLocal) && jail.settings.get('filter') !== '')
    .map((jail) => code(jail.name));
  return names.length === 0 ? 'none' : names.join(', ');
}

function runner(facts: DeploymentFacts): string {
  return facts.banManager === undefined
    ? 'It needs a kubeconfig that may write `OperatorBan` objects and read `Fail2banNode` objects in the fail2ban namespace.'
    : `Its runner is the self-hosted one on the k3s server; the job signs in with its own short-lived GitHub token as ${code(facts.banManager)} (no stored credential): it may write \`OperatorBan\` objects and read \`Fail2banNode\` reports in the fail2ban namespace, nothing else (README: "From GitHub Actions").`;
}

/** The Managing bans section: the command line, its exit codes, and the workflow that runs it. */
export function bansSection(facts: DeploymentFacts): string {
  return dedent`
    ## Managing bans

    Bans are per node: each node's fail2ban bans in that node's nftables. \`npm run bans\` writes an \`OperatorBan\`
    object through the Kubernetes API; the node agent on every node applies it (to the jail's operator jail, or, for an
    unban, to every jail that holds the address) and reports in its node's \`Fail2banNode\` object, which the command
    waits for. A node that is down applies the order when it is back. Nobody execs into a pod
    ([docs/operator-bans.md](operator-bans.md)). Do not run \`fail2ban-client\` on one pod by hand: the other nodes
    would not follow.

    \`\`\`sh
    npm run bans -- list [--jail NAME] [--json]
    npm run bans -- ban --jail NAME --ip ADDRESS [--for DURATION|permanent] [--reason TEXT]
    npm run bans -- unban --jail NAME --ip ADDRESS
    \`\`\`

    \`--jail\` takes an enabled jail (now ${enabledJails(facts)}); \`list\` shows every jail without it. \`--ip\` takes
    exactly one IPv4 or IPv6 address. \`ban\` refuses an address inside \`ignoreip\`; \`unban\` accepts it, to undo a
    wrong manual ban. A ban lasts the jail's ban time unless \`--for\` says otherwise. Running a command again is safe.

    ${table(
      ['Exit code', 'Meaning'],
      [
        ['0', 'every node reported the change (list: every node agrees)'],
        ['1', 'some node refused, did not report within `--timeout`, or disagrees; each is named (it catches up when it is back)'],
        ['2', 'usage or validation error; nothing was sent'],
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
        ['ban_for', `how long a ban lasts (${code('12h')}, ${code('7d')}, ${code('permanent')}); default: the jail's ban time`],
        ['reason', 'why, kept in the order'],
      ],
    )}
  `;
}
