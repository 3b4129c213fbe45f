import * as fs from 'node:fs';
import * as path from 'node:path';

/** The path of the executable `name` in a PATH directory, or undefined. */
export function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** What a suite needs besides tools on PATH. */
export interface Needs {
  /** Root, for network namespaces and nftables. @default false */
  readonly root?: boolean;
}

/**
 * What is missing of `names` (tools on PATH) and `needs`. Under CI=true anything missing throws instead: CI installs
 * the tools and runs as root (.ci/run), and a suite that skips there would pass without testing anything.
 */
export function missingTools(names: string[], needs: Needs = {}): string[] {
  const missing = names.filter((name) => !findTool(name));
  if (needs.root && process.getuid?.() !== 0) {
    missing.push('root');
  }
  if (missing.length > 0 && process.env.CI === 'true') {
    throw new Error(`required tools missing under CI=true: ${missing.join(', ')}`);
  }
  return missing;
}

/** Whether every tool is on PATH; a local run without them warns, naming the missing ones. */
export function requireTools(names: string[], needs: Needs = {}): boolean {
  const missing = missingTools(names, needs);
  if (missing.length > 0) console.warn(skipReason(missing));
  return missing.length === 0;
}

/** `describe` when every tool (and need) is there; otherwise a skipped `describe` whose title gives the reason. */
export function describeWithTools(names: string[], title: string, fn: () => void, needs: Needs = {}): void {
  const missing = missingTools(names, needs);
  if (missing.length === 0) {
    describe(title, fn);
    return;
  }
  console.warn(skipReason(missing));
  describe.skip(`${title} [${skipReason(missing)}]`, fn);
}

function skipReason(missing: string[]): string {
  return `skipped: ${missing.join(', ')} not available`;
}
