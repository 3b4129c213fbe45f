import { isDeepStrictEqual } from 'node:util';
import { K8sObject } from '../../read/objects';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function differingKeys(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].sort().filter((key) => !isDeepStrictEqual(before[key], after[key]));
}

/**
 * `rules`, `ports, selector`, `annotations`: what differs between two versions of an object, by top-level field, or
 * by the fields within one that is a map (`spec`, `data`, `metadata`). Labels are left to their own line (labels.ts).
 */
export function changedParts(before: K8sObject, after: K8sObject): string[] {
  const parts = differingKeys(before, after).flatMap((key) => {
    const [old, next] = [before[key], after[key]];
    const inner = isRecord(old) && isRecord(next) ? differingKeys(old, next) : [key];
    return key === 'metadata' ? inner.filter((field) => field !== 'labels') : inner;
  });
  return [...new Set(parts)];
}
