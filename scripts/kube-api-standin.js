// `node scripts/kube-api-standin.js OPTIONS_JSON`: the stand-in Kubernetes API the TypeScript labs use
// (test/harness/fake-kube-api.ts), as a process for the node agent's Python tests (agent/tests/standins.py).
// Bundles test/harness/kube-api-server.ts with esbuild into dist/standin/ and runs it; with KUBE_API_STANDIN_BUNDLE
// set (test/agent.test.ts bundles once for all the Python tests), runs that bundle instead.
const fs = require('node:fs');
const path = require('node:path');
const { BUNDLE_OPTIONS } = require('./bundle-options');

const prebuilt = process.env.KUBE_API_STANDIN_BUNDLE;
if (prebuilt) {
  require(prebuilt);
  return;
}
const root = path.join(__dirname, '..');
const outfile = path.join(root, 'dist', 'standin', `kube-api-server-${process.pid}.js`);
require('esbuild').buildSync({
  absWorkingDir: root,
  entryPoints: ['test/harness/kube-api-server.ts'],
  outfile,
  ...BUNDLE_OPTIONS,
});
process.on('exit', () => fs.rmSync(outfile, { force: true }));
require(outfile);
