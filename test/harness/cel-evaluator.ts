import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { HANG_MS } from './wait';

/** One CEL expression and the variables it sees. */
export interface CelCase {
  readonly expression: string;
  readonly context: Record<string, unknown>;
}

export type CelResult = { value?: unknown; error?: string };

/**
 * The CEL evaluator (cel.mjs, @marcbachmann/cel-js in a process of its own, since it is ESM only) for one test file:
 * `start()` in beforeAll, `stop()` in afterAll; requests and answers go line by line, in order.
 */
export class CelEvaluator {
  private process?: ChildProcessWithoutNullStreams;
  private readonly pending: Array<(results: CelResult[]) => void> = [];

  start(): void {
    this.process = spawn(process.execPath, [path.join(__dirname, 'cel.mjs')]);
    createInterface({ input: this.process.stdout }).on('line', (line) => this.pending.shift()!(JSON.parse(line)));
  }

  stop(): void {
    this.process?.kill();
  }

  /** The results in order; rejects after HANG_MS if the evaluator never answers (it died, say). */
  evaluate(cases: CelCase[]): Promise<CelResult[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the CEL evaluator gave no answer after ${HANG_MS / 1000} s`)), HANG_MS);
      this.pending.push((results) => {
        clearTimeout(timer);
        resolve(results);
      });
      this.process!.stdin.write(`${JSON.stringify(cases)}\n`);
    });
  }
}
