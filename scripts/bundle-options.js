// esbuild's options for every bundle of this package (commands, benchmarks, the stand-in API): Node 20, CommonJS,
// dependencies left in node_modules. `BUNDLE_ARGS` is the same for esbuild's binary.
const BUNDLE_OPTIONS = { bundle: true, packages: 'external', platform: 'node', format: 'cjs', target: 'node20', logLevel: 'warning' };

const BUNDLE_ARGS = Object.entries(BUNDLE_OPTIONS).map(([key, value]) =>
  value === true ? `--${key}` : `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}=${value}`,
);

module.exports = { BUNDLE_OPTIONS, BUNDLE_ARGS };
