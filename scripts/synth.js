// `npm run synth`: compile the sources, then run the homelab app (src/main.ts) with the command-line flags.
require('./compile').compile();
require('../dist/main.js').main(process.argv.slice(2));
