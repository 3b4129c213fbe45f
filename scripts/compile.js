// Bundles a command's entry point in src/ into dist/app/NAME.js, without type-checking: `npm run typecheck` (tsc
// --noEmit) checks types, so a command never waits for tsc or ts-node. One bundle loads in one read instead of
// resolving ~60 modules (~13 ms of every synth). esbuild's binary bundles src/main.ts in ~17 ms; its JavaScript API
// would cost ~100 ms more to start, so it is only the fallback where the binary cannot be run (Windows). Every run
// bundles: a bundle can never be staler than the sources it runs.
// The bundle finds filters/, agent/ and actions/ as the sources do, from the package root (src/model/package-path.ts).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { BUNDLE_ARGS, BUNDLE_OPTIONS } = require('./bundle-options');

const root = path.join(__dirname, '..');
/** Bundle name → entry point: `npm run synth` and `npm run bans`. */
const ENTRY_POINTS = { main: 'src/main.ts', bans: 'src/bans/cli.ts' };

class BundleError extends Error {}

function esbuildBinary() {
  try {
    return require.resolve('esbuild/bin/esbuild');
  } catch {
    throw new BundleError('compile: esbuild is not installed. Run `npm ci` first.');
  }
}

/** esbuild's command line, and the same options for its JavaScript API. */

/** Runs esbuild; resolves when `outfile` is written, rejects after esbuild printed its errors on stderr. */
function esbuild(entryPoint, outfile) {
  const failed = (why) => new BundleError(`compile: esbuild could not bundle ${entryPoint} (${why}). Fix it and run again.`);
  return new Promise((resolve, reject) => {
    // One core for esbuild: the command loads cdk8s on the other meanwhile.
    spawn(esbuildBinary(), [entryPoint, `--outfile=${outfile}`, ...BUNDLE_ARGS], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, GOMAXPROCS: '1' } })
      .on('error', () => {
        require('esbuild')
          .build({ absWorkingDir: root, entryPoints: [entryPoint], outfile, ...BUNDLE_OPTIONS })
          .then(resolve, () => reject(failed('see above')));
      })
      .on('exit', (code, signal) => {
        if (code === 0) {
          resolve();
        } else {
          reject(failed(signal === null ? 'see above' : `esbuild was stopped by ${signal}`));
        }
      });
  });
}

/**
 * Bundles `name` (a key of ENTRY_POINTS) into dist/app/NAME.js while this process goes on. The bundle is written
 * beside it and renamed into place, so that a command running at the same time never loads half a file.
 */
async function bundle(name) {
  const entryPoint = ENTRY_POINTS[name];
  if (entryPoint === undefined) {
    throw new BundleError(`compile: unknown bundle "${name}"; known: ${Object.keys(ENTRY_POINTS).join(', ')}.`);
  }
  const file = path.join(root, 'dist', 'app', `${name}.js`);
  const scratch = `${file}.${process.pid}.tmp`;
  await esbuild(entryPoint, scratch);
  fs.renameSync(scratch, file);
  return file;
}

/** Prints why the bundle failed and fails the command; anything else is a bug, and keeps its stack trace. */
function bundleFailed(error) {
  if (!(error instanceof BundleError)) {
    throw error;
  }
  console.error(error.message);
  process.exitCode = 1;
}

/**
 * A command: bundles `name`, loads cdk8s while esbuild works (every bundle needs it, ~80 ms), then calls `run` with
 * the bundle's exports.
 */
function runBundle(name, run) {
  const bundled = bundle(name);
  require('cdk8s');
  require('cdk8s-plus-28');
  return bundled.then((file) => run(require(file)), bundleFailed);
}

module.exports = { bundle, runBundle };

if (require.main === module) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(ENTRY_POINTS);
  Promise.all(names.map(bundle)).catch(bundleFailed);
}
