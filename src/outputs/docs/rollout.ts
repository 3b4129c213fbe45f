import dedent from 'ts-dedent';
import { CONFIG_HASH_ANNOTATION } from '../../k8s/daemon-set';
import { DeploymentFacts } from './facts';
import { code } from './markdown';

/** `kubectl get` of the config hash the cluster's DaemonSet carries, to compare with the generated one. */
export function clusterHashCommand(facts: DeploymentFacts): string {
  const jsonPath = `{.spec.template.metadata.annotations.${CONFIG_HASH_ANNOTATION.replace(/\./g, '\\.')}}`;
  return `kubectl get daemonset ${facts.daemonSet.metadata?.name} -n ${facts.namespace} -o jsonpath='${jsonPath}'`;
}

function fluxStep(facts: DeploymentFacts): string {
  const flux = facts.flux;
  if (flux === undefined) {
    return 'Push; Flux applies the folder.';
  }
  const every = flux.interval === undefined ? 'on its next reconcile' : `within ${flux.interval}`;
  return `Push. Flux (Kustomization ${code(flux.name)}) applies the folder ${every}; \`flux reconcile kustomization ${flux.name} -n ${flux.namespace} --with-source\` does it now.`;
}

function rolling(facts: DeploymentFacts): string {
  const strategy = facts.daemonSet.spec.updateStrategy;
  const maxUnavailable = strategy?.rollingUpdate?.maxUnavailable;
  return maxUnavailable === undefined ? code(strategy?.type ?? 'RollingUpdate') : `${code(strategy?.type ?? 'RollingUpdate')}, ${code(`maxUnavailable: ${maxUnavailable}`)}`;
}

/** The section on how a change reaches the pods: synth, commit, Flux, and the hash annotation that rolls them. */
export function rolloutSection(facts: DeploymentFacts): string {
  const name = facts.daemonSet.metadata?.name;
  return dedent`
    ## How configuration changes roll out

    1. Change the settings in \`src/main.ts\` or a filter in \`filters/\`, run \`npm run synth\`, and commit the
       regenerated files (\`${facts.manifestsDir}\`, this document) with the change.
    2. ${fluxStep(facts)}
    3. The DaemonSet's pod template carries the annotation ${code(CONFIG_HASH_ANNOTATION)}, the sha256 of the
       ConfigMap's data (now ${code(facts.configHash ?? '(none)')}). A change to \`jail.local\` or to a filter changes
       it, and Kubernetes replaces the pods node by node (${rolling(facts)}). No manual restart is needed.

    The files are mounted by \`subPath\`, and subPath mounts never see ConfigMap updates: the new hash is what
    restarts the pods with the new files. Follow the rollout with:

    \`\`\`sh
    kubectl rollout status daemonset/${name} -n ${facts.namespace}
    \`\`\`
  `;
}
