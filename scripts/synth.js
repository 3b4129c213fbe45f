// `npm run synth`: bundle the sources, then run the homelab app (src/main.ts) with the command-line flags.
require('./compile').runBundle('main', (app) => app.main(process.argv.slice(2)));
