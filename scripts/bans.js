// `npm run bans -- list|ban|unban …`.
// Compiles the sources like `npm run synth`, then runs the ban CLI (src/bans/cli.ts) with the command-line flags.
require('./compile').compile();
require('../dist/bans/cli.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
