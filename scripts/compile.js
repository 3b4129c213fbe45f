// Bundles a command's entry point in src/ into dist/app/NAME.js, without type-checking: `npm run typecheck` (tsc
// --noEmit) checks types, so a command never waits for tsc or ts-node. One bundle loads in one read instead of
// resolving ~60 modules (~13 ms of every synth). esbuild's binary bundles src/main.ts in ~17 ms; its JavaScript API
// would cost ~100 ms more to start. Every run bundles: a bundle can never be staler than the sources it runs.
// dist/app/ is two levels below the package root, as src/config/ and src/sharing/ are: their paths to filters/ and
// sharing/ are relative to their own folder, and stay right in the bundle.
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
/** Bundle name → entry point: `npm run synth` and `npm run bans`. */
const ENTRY_POINTS = { main: 'src/main.ts', bans: 'src/bans/cli.ts' };

/**
 * Bundles `name` (a key of ENTRY_POINTS) while this process goes on: the promise settles when dist/app/NAME.js is
 * written, or rejects after esbuild printed its errors. esbuild gets one core (GOMAXPROCS=1), this process the other.
 */
function bundle(name) {
  const entryPoint = ENTRY_POINTS[name];
  if (entryPoint === undefined) {
    return Promise.reject(new Error(`compile: unknown bundle "${name}"; known: ${Object.keys(ENTRY_POINTS).join(', ')}.`));
  }
  const args = [`${name}=${entryPoint}`, '--bundle', '--packages=external', '--outdir=dist/app', '--platform=node', '--format=cjs', '--target=node20', '--sourcemap', '--log-level=warning'];
  return new Promise((resolve, reject) => {
    spawn(require.resolve('esbuild/bin/esbuild'), args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, GOMAXPROCS: '1' } })
      .on('error', reject)
      .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`compile: esbuild could not bundle ${entryPoint} (see above). Fix it and run again.`))));
  });
}

/** For the scripts: prints why the bundle failed, and fails the command. */
function bundleFailed(error) {
  console.error(error.message);
  process.exitCode = 1;
}

module.exports = { bundle, bundleFailed };

if (require.main === module) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(ENTRY_POINTS);
  Promise.all(names.map(bundle)).catch(bundleFailed);
}
