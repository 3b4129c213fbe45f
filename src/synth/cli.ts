import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Fail2banConfigError } from '../model/errors';
import { writeFileAtomically, writeTreeAtomically } from './atomic-write';
import { diffFiles, formatChanges, readDir } from '../outputs/diff';
import { renderOperationsDoc } from '../outputs/docs/operations';
import { K8sObject } from '../read/objects';
import { ManifestFiles, SynthOutput, renderManifests, renderYamlFile } from '../outputs/manifests';
import { summarizeChanges } from '../outputs/summary';

/** Where synth writes by default. */
export interface SynthPaths {
  /** The folder Flux applies. */
  readonly manifestsDir: string;
  /** Files outside that folder by role: `flux` (the Flux Kustomization), `auditPolicy` (for the k3s server). */
  readonly files: Record<string, string>;
  /** The operations document, generated from the same objects. @default none */
  readonly operationsDoc?: string;
}

/** Where output and messages go; tests pass their own. */
export interface SynthIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const consoleIo: SynthIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

export function usage(paths: SynthPaths): string {
  return `usage: npm run synth -- [--out DIR] [--flux-out FILE] [--check]

Synthesizes the fail2ban manifests from src/main.ts.

  --out DIR         write the manifests to DIR instead of ${paths.manifestsDir}
                    (the files outside it are then written only with --flux-out)
  --flux-out FILE   write the Flux Kustomization to FILE instead of ${paths.files.flux}
  --check           write nothing; exit 1 listing the differences when the files on disk are stale
  --help            show this text

Exit codes: 0 written or up to date, 1 configuration errors or (with --check) stale files, 2 usage error.`;
}

/** What synth would write: the folder's files by name, and the other files by path. */
interface Rendered {
  readonly folder: ManifestFiles;
  readonly files: Record<string, string>;
}

function render(output: SynthOutput, manifestsDir: string, filePaths: Record<string, string>, docPath: string | undefined): Rendered {
  const manifestObjects = output.manifests.toJson();
  const folder = renderManifests(manifestObjects);
  const files: Record<string, string> = {};
  const fileObjects: Record<string, K8sObject[]> = {};
  for (const [role, objects] of Object.entries(output.files ?? {})) {
    if (filePaths[role] !== undefined) {
      files[filePaths[role]] = renderYamlFile(objects);
      fileObjects[filePaths[role]] = objects as K8sObject[];
    }
  }
  if (docPath !== undefined) {
    files[docPath] = renderOperationsDoc({ manifestsDir, objects: manifestObjects, files: fileObjects });
  }
  return { folder, files };
}

/** Lines under a heading, indented. */
function section(heading: string, lines: string[]): string {
  return [heading, ...lines.map((line) => `  ${line}`)].join('\n');
}

/** The `npm run synth` command: builds the charts, renders every file in memory, then swaps them in at once. */
export function runSynth(argv: string[], build: () => SynthOutput, paths: SynthPaths, io: SynthIo = consoleIo): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, 'flux-out': { type: 'string' }, check: { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${usage(paths)}`);
    return 2;
  }
  if (values.help) {
    io.out(usage(paths));
    return 0;
  }
  // The cdk8s CLI (`cdk8s synth`) tells the app where to write through CDK8S_OUTDIR.
  const manifestsDir = values.out ?? process.env.CDK8S_OUTDIR ?? paths.manifestsDir;
  const defaultLayout = manifestsDir === paths.manifestsDir;
  const filePaths = defaultLayout ? { ...paths.files } : {};
  const docPath = defaultLayout ? paths.operationsDoc : undefined;
  if (values['flux-out'] !== undefined) {
    filePaths.flux = values['flux-out'];
  }

  let rendered;
  try {
    const output = build();
    for (const warning of output.warnings ?? []) {
      io.err(`warning: ${warning}`);
    }
    rendered = render(output, manifestsDir, filePaths, docPath);
  } catch (error) {
    if (error instanceof Fail2banConfigError) {
      io.err(`synth: nothing written.\n${error.message}`);
      return 1;
    }
    throw error;
  }
  const wanted = { ...rendered.files };
  for (const [name, content] of Object.entries(rendered.folder)) {
    wanted[path.join(manifestsDir, name)] = content;
  }
  const folderOnDisk = readDir(manifestsDir);
  const onDisk = { ...folderOnDisk };
  for (const file of Object.keys(rendered.files).filter((f) => fs.existsSync(f))) {
    onDisk[file] = fs.readFileSync(file, 'utf8');
  }
  const changes = diffFiles(onDisk, wanted);
  const report = () => [
    section('files:', formatChanges(changes)),
    section('what this changes on the cluster:', summarizeChanges(folderOnDisk, rendered.folder)),
  ];

  if (values.check) {
    if (changes.length === 0) {
      io.out('synth --check: up to date');
      return 0;
    }
    io.err(['synth --check: the generated files are stale; run `npm run synth` and commit the result.', ...report()].join('\n'));
    return 1;
  }
  if (changes.length === 0) {
    io.out('synth: no change');
    return 0;
  }
  const summary = report();
  writeTreeAtomically(manifestsDir, rendered.folder);
  for (const [file, content] of Object.entries(rendered.files)) {
    writeFileAtomically(file, content);
  }
  io.out(['synth: wrote the generated files.', ...summary].join('\n'));
  return 0;
}
