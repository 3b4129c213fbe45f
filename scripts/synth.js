// `npm run synth`: bundle the sources, then run the homelab app (src/main.ts) with the command-line flags.
// esbuild bundles on the other core while this process loads cdk8s, which the app needs anyway (~80 ms of the run).
const { bundle, bundleFailed } = require('./compile');

const bundled = bundle('main');
require('cdk8s');
require('cdk8s-plus-28');
bundled.then(() => require('../dist/app/main.js').main(process.argv.slice(2)), bundleFailed);
