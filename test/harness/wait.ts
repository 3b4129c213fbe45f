/**
 * How long a wait may take before the test calls it a hang. It is no speed limit: the machines are shared and noisy,
 * so a test asserts what happened, and the benchmarks (`npm run bench:*`) say how fast.
 */
export const HANG_MS = 30_000;

/**
 * Waits until `check` is true, polling every 100 ms; throws with `what` after `timeoutMs` (a hang detector). Checks
 * that run fail2ban-client start a Python process each (~150 ms of CPU), so a faster poll would starve fail2ban itself.
 */
export async function waitFor(what: string, check: () => boolean, timeoutMs = HANG_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`still waiting for ${what} after ${timeoutMs / 1000} s: it hangs (a hang detector, not a speed limit)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
