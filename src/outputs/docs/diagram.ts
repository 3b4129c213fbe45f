import dedent from 'ts-dedent';
import { CONTAINER_LOG_DIR, HOST_LOG_DIR } from '../../model/log-path';
import { DeploymentFacts } from './facts';
import { MANAGE_WORKFLOW } from './bans';

/** A quoted Mermaid label; Mermaid has no backslash escapes, only entity codes. */
function label(text: string): string {
  return `"${text.replace(/"/g, '#quot;')}"`;
}

/** The Architecture diagram: how a commit reaches every node, and how bans are managed. */
export function architectureDiagram(facts: DeploymentFacts): string {
  const daemonSet = facts.daemonSet.metadata?.name ?? '';
  const flux = facts.flux ? `Flux Kustomization ${facts.flux.name}` : 'Flux';
  return dedent`
    \`\`\`mermaid
    flowchart LR
      git[${label(`git: ${facts.manifestsDir}`)}] --> flux[${label(flux)}]
      flux --> cm[${label(`ConfigMap ${facts.configMapName}<br/>jail.local + ${facts.filters.length} filters`)}]
      flux --> ds[${label(`DaemonSet ${daemonSet}`)}]
      subgraph nodes[${label('on every node')}]
        logs[${label(`host ${HOST_LOG_DIR}`)}] -->|${label(`read-only at ${CONTAINER_LOG_DIR}`)}| pod[${label('fail2ban pod')}]
        pod -->|bans| nft[${label('host nftables')}]
        agent[${label('node agent')}] -->|${label('ban, unban')}| pod
      end
      ds -->|one pod per node| pod
      cm -->|subPath files| pod
      wf[${label(`GitHub workflow ${MANAGE_WORKFLOW}`)}] --> bans[${label('npm run bans')}]
      bans -->|${label('OperatorBan')}| api[${label('Kubernetes API')}]
      api -->|${label('watch')}| agent
      agent -->|${label('Fail2banNode report')}| api
    \`\`\`
  `;
}
