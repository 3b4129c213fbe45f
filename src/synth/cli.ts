import { parseArgs } from 'node:util';
import { App } from 'cdk8s';
import { Fail2banConfigError } from '../config/errors';
import { writeTreeAtomically } from './atomic-write';
import { renderManifests } from './manifests';

/** Where `npm run synth` writes: the folder Flux applies. */
export const DEFAULT_OUT_DIR = 'k3s/manifests/fail2ban';

export const USAGE = `usage: npm run synth -- [--out DIR]

Synthesizes the fail2ban manifests from src/main.ts.

  --out DIR   write to DIR instead of ${DEFAULT_OUT_DIR}
  --help      show this text

Exit codes: 0 written (or already up to date), 1 configuration errors (nothing written), 2 usage error.`;

/** Where output and messages go; tests pass their own. */
export interface SynthIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const consoleIo: SynthIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

/** The `npm run synth` command: builds the app, renders every file in memory, then swaps them in at once. */
export function runSynth(argv: string[], buildApp: () => App, io: SynthIo = consoleIo): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  // The cdk8s CLI (`cdk8s synth`) tells the app where to write through CDK8S_OUTDIR.
  const outDir = values.out ?? process.env.CDK8S_OUTDIR ?? DEFAULT_OUT_DIR;

  let files;
  try {
    files = renderManifests(buildApp());
  } catch (error) {
    if (error instanceof Fail2banConfigError) {
      io.err(`synth: nothing written to ${outDir}.\n${error.message}`);
      return 1;
    }
    throw error;
  }
  const written = writeTreeAtomically(outDir, files);
  io.out(`${written ? 'wrote' : 'up to date:'} ${outDir} (${Object.keys(files).sort().join(', ')})`);
  return 0;
}
