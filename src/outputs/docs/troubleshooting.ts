import dedent from 'ts-dedent';
import { isJailEnabled, jailsOf } from '../../read/jail-local';
import { DeploymentFacts } from './facts';
import { code } from './markdown';
import { clusterHashCommand } from './rollout';

function statusCommands(facts: DeploymentFacts): string {
  const jails = jailsOf(facts.jailLocal).filter((jail) => isJailEnabled(jail, facts.jailLocal));
  return ['', ...jails.map((jail) => ` ${jail.name}`)].map((jail) => `kubectl exec -n ${facts.namespace} POD -c fail2ban -- fail2ban-client status${jail}`).join('\n');
}

function fluxCheck(facts: DeploymentFacts): string {
  if (facts.flux === undefined) {
    return '.';
  }
  return (
    `: \`flux get kustomizations ${facts.flux.name} -n ${facts.flux.namespace}\` says why. A failed health check means a new pod ` +
    'never got ready: the rollout stops at that node, and the other nodes keep the previous configuration.'
  );
}

/** The Troubleshooting section: where to look, and the old deployment's failures with what became of them. */
export function troubleshootingSection(facts: DeploymentFacts): string {
  return dedent`
    ## Troubleshooting

    Check the pods on every node, then one pod's log and jails (\`POD\` from the first command):

    \`\`\`sh
    kubectl get pods -n ${facts.namespace} -o wide
    kubectl logs -n ${facts.namespace} POD -c fail2ban --tail=100 -f
    ${statusCommands(facts)}
    \`\`\`

    These failures of the hand-written deployment are now refused by \`npm run synth\`, which names the setting and
    the fix and writes nothing; they cannot reach the cluster:

    - **\`ConfigMap "${facts.configMapName}" is invalid: data[filter.d/…]\`**: ConfigMap keys are the file names in
      \`filters/\`, checked against \`[-._a-zA-Z0-9]+\`; each file is mounted by subPath at \`/data/filter.d/NAME.conf\`.
    - **\`IsADirectoryError(21, 'Is a directory')\`**: a \`logPath\` naming a directory (\`/var/log/journal\`) is
      refused. k3s logs through rsyslog: use \`hostLog('syslog')\`.
    - **\`No module named 'systemd'\`**: \`backend: 'systemd'\` and the other journal backends are refused (the
      image is Alpine-based, without python's systemd module); use \`'auto'\` with a log file.

    What can still go wrong:

    - **A config change is not picked up.** Check the committed manifests: \`npm run synth -- --check\` says whether
      \`${facts.manifestsDir}\` matches \`src/\`, and \`git status ${facts.manifestsDir}\` whether it was committed.
      Then compare the cluster's config hash with ${code(facts.configHash ?? '(none)')}:
      \`${clusterHashCommand(facts)}\`. A different hash means Flux has not applied the commit yet${fluxCheck(facts)}
    - **Failures are logged but nobody is banned.** The container's time zone (\`TZ\`, ${facts.timeZone === undefined ? 'unset' : code(facts.timeZone)})
      must be the hosts' (\`timedatectl\` on a node). Syslog lines carry local time without an offset: in
      another zone fail2ban reads every failure as hours old or in the future and does not count it. Also check that
      the address is not in \`ignoreip\`.
  `;
}
