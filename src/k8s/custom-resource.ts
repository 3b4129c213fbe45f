import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';

/** Props of {@link NamespacedResourceDefinition}. */
export interface NamespacedResourceDefinitionProps {
  readonly group: string;
  readonly labels: Record<string, string>;
  /** `Ban`: the list kind, the plural (`bans`) and the singular follow from it. */
  readonly kind: string;
  /** What `kubectl get` shows besides the name. */
  readonly printerColumns: readonly { readonly name: string; readonly type: string; readonly jsonPath: string }[];
  /** The object's `openAPIV3Schema`. */
  readonly schema: Record<string, unknown>;
}

/** A CRD of the package's own: namespaced, one version `v1`, served and stored. */
export class NamespacedResourceDefinition extends Construct {
  constructor(scope: Construct, id: string, props: NamespacedResourceDefinitionProps) {
    super(scope, id);
    const singular = props.kind.toLowerCase();
    const plural = `${singular}s`;
    new ApiObject(this, 'Resource', {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.${props.group}`, labels: props.labels },
      spec: {
        group: props.group,
        scope: 'Namespaced',
        names: { kind: props.kind, listKind: `${props.kind}List`, plural, singular },
        versions: [{ name: 'v1', served: true, storage: true, additionalPrinterColumns: props.printerColumns, schema: { openAPIV3Schema: props.schema } }],
      },
    });
  }
}
