// `npm run bans -- list|ban|unban …`.
// Bundles the sources like `npm run synth`, then runs the ban CLI (src/bans/cli.ts) with the command-line flags.
require('./compile').runBundle('bans', async (cli) => {
  process.exitCode = await cli.main(process.argv.slice(2));
});
