/** Edit distance (insertions, deletions, substitutions) between two names. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** ` Did you mean "x"?` for the nearest known name, or nothing when none is close. */
export function didYouMean(name: string, known: readonly string[]): string {
  const scored = known.map((candidate) => ({ candidate, score: distance(name.toLowerCase(), candidate.toLowerCase()) }));
  const best = scored.sort((x, y) => x.score - y.score || x.candidate.localeCompare(y.candidate))[0];
  return best && best.score <= Math.max(2, Math.floor(name.length / 3)) ? ` Did you mean "${best.candidate}"?` : '';
}
