import { isDeepStrictEqual } from 'node:util';

/** A value that differs at a path; `undefined` on one side means the path is absent there. */
export interface ValueChange {
  readonly path: string;
  readonly before: unknown;
  readonly after: unknown;
}

// Items of these lists are told apart by these fields (containers, env and volumes by name; mounts share volume
// names, so by path), which keeps an inserted item from showing as a change of every later one.
const ITEM_KEYS = ['name', 'mountPath'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The path of a field: `a.b`, or `a["b.c/d"]` for a key that is not a plain name. */
export function keyPath(path: string, key: string): string {
  return /^[A-Za-z_][\w-]*$/.test(key) ? `${path}${path ? '.' : ''}${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** The field that names every item of both lists uniquely, if one does. */
function itemKey(lists: unknown[][]): string | undefined {
  return ITEM_KEYS.find((field) =>
    lists.every((list) => {
      const ids = list.map((item) => (isRecord(item) ? item[field] : undefined));
      return ids.every((id) => typeof id === 'string') && new Set(ids).size === ids.length;
    }),
  );
}

function byKey(list: unknown[], field: string): Record<string, unknown> {
  return Object.fromEntries(list.map((item) => [(item as Record<string, unknown>)[field], item]));
}

/** Leaf by leaf differences of two JSON values, with paths like `spec.containers[fail2ban].resources.limits.memory`. */
export function deepDiff(before: unknown, after: unknown, path = ''): ValueChange[] {
  if (isDeepStrictEqual(before, after)) {
    return [];
  }
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => deepDiff(before[key], after[key], keyPath(path, key)));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const field = itemKey([before, after]);
    if (field !== undefined) {
      const [old, next] = [byKey(before, field), byKey(after, field)];
      const keys = [...new Set([...Object.keys(old), ...Object.keys(next)])];
      return keys.flatMap((key) => deepDiff(old[key], next[key], `${path}[${key}]`));
    }
  }
  return [{ path, before, after }];
}

function show(value: unknown): string {
  if (value === undefined) {
    return '(none)';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** `spec.template.spec.containers[fail2ban].resources.limits.memory 256Mi → 512Mi`. */
export function formatValueChange(change: ValueChange): string {
  return `${change.path} ${show(change.before)} → ${show(change.after)}`;
}
