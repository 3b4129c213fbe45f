/**
 * The folder's own `kustomization.yaml`: Flux then builds exactly these files rather than every YAML it finds.
 */
export function renderKustomization(resources: string[]): object {
  return {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources,
  };
}
