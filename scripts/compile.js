// Transpiles src/ to dist/ without type-checking (esbuild, ~20 ms), so that synth never waits for tsc or ts-node.
// Types are checked by `npm test` (tsc --noEmit).
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');

function compile() {
  esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: ['src/**/*.ts'],
    outdir: 'dist',
    outbase: 'src',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
}

module.exports = { compile };

if (require.main === module) {
  compile();
}
