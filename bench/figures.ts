// What the lab benchmarks share: a figure is a list of durations against a goal, printed as median and max.

/** One measured duration, in milliseconds, with its goal. */
export interface Figure {
  readonly what: string;
  readonly goalMs: number;
  readonly values: number[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One line per figure: median, max, and whether every value met the goal. */
export function printFigures(figures: readonly Figure[], width: number): void {
  for (const { what, goalMs, values } of figures) {
    const over = values.filter((value) => value > goalMs).length;
    const verdict = over === 0 ? 'met' : `MISSED by ${over} of ${values.length}`;
    console.log(`  ${what.padEnd(width)} median ${median(values).toFixed(0).padStart(5)} ms, max ${String(Math.max(...values)).padStart(5)} ms (n=${values.length}); goal: each <= ${goalMs} ms, ${verdict}`);
  }
}
