import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { ValidateFunction } from 'ajv';

/** A CRD's openAPIV3Schema stored in test/schemas/ (each file names its source in `$comment`). */
export function crdSchema(file: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'schemas', file), 'utf8'));
}

/**
 * The schema as the API server prunes with it: a field the schema does not name is dropped without a word (only
 * where it preserves unknown fields is it kept), so it is refused here.
 */
export function closedSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closedSchema);
  if (typeof node !== 'object' || node === null) return node;
  const copy: Record<string, unknown> = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, closedSchema(value)]));
  if ('properties' in node && !('x-kubernetes-preserve-unknown-fields' in node)) copy.additionalProperties = false;
  return copy;
}

/** An Ajv validator of a CRD's schema, with the Kubernetes extensions the API server reads and Ajv does not know. */
export function crdValidator(openApiSchema: unknown): ValidateFunction {
  const ajv = new Ajv({
    allErrors: true,
    // Kubernetes' int-or-string fields put `pattern` beside `anyOf: [integer, string]`: valid JSON Schema (the
    // pattern applies to strings only), which Ajv's strict types would only warn about.
    strictTypes: false,
    // The Kubernetes formats the CRDs name; the objects set none of those fields, so they are only accepted.
    formats: { int: true, int32: true, int64: true, 'date-time': true },
    // Go's regexp takes a leading `(?i)` (partial_response_strategy's pattern); JavaScript takes the flag instead.
    code: { regExp: ((pattern: string, flags: string) => (pattern.startsWith('^(?i)') ? new RegExp(`^${pattern.slice(5)}`, `${flags}i`) : new RegExp(pattern, flags))) as any },
  });
  for (const keyword of ['x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type']) {
    ajv.addKeyword(keyword);
  }
  return ajv.compile(openApiSchema as object);
}
