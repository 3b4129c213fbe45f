// `npm run bans -- list|ban|unban …`.
// Bundles the sources like `npm run synth`, then runs the ban CLI (src/bans/cli.ts) with the command-line flags.
const { bundle, bundleFailed } = require('./compile');

bundle('bans').then(
  () =>
    require('../dist/app/bans.js')
      .main(process.argv.slice(2))
      .then((code) => {
        process.exitCode = code;
      }),
  bundleFailed,
);
