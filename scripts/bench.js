// `npm run bench[:NAME]`: bundles every bench/*.ts with esbuild into dist/bench/ (a benchmark may run another as a
// process) and runs bench/NAME.ts. Benchmarks are scripts, not timed tests: they print numbers for the README and issue notes.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const esbuild = require('esbuild');
const { BUNDLE_OPTIONS } = require('./bundle-options');

const root = path.join(__dirname, '..');
const name = process.argv[2];
if (!name) {
  console.error('usage: node scripts/bench.js NAME [ARGS...]  (runs bench/NAME.ts)');
  process.exit(2);
}
esbuild.buildSync({
  absWorkingDir: root,
  entryPoints: ['bench/*.ts'],
  outdir: 'dist/bench',
  ...BUNDLE_OPTIONS,
});
const result = spawnSync(process.execPath, [path.join(root, 'dist', 'bench', `${name}.js`), ...process.argv.slice(3)], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
