// jest transform: transpile TypeScript with esbuild, without type-checking (`npm run typecheck` runs `tsc --noEmit`).
// ts-jest type-checks each file in every worker, which on two cores cost more than the tests themselves.
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, { loader: 'ts', format: 'cjs', target: 'node20', sourcemap: 'external', sourcefile: filename });
    return { code, map };
  },
};
