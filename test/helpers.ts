import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Fail2banConfigError } from '../src/model/errors';
import { Fail2banProps } from '../src/resolve/props';
import { parseIni as parseIniSections } from '../src/model/ini';
import { buildApp } from '../src/main';
import { ManifestFiles, renderManifests } from '../src/outputs/manifests';
import { fixture } from './fixture';

/** The files `npm run synth` would write for the test fixture with these props changed. */
export function synth(changes: Partial<Fail2banProps> = {}): ManifestFiles {
  return renderManifests(buildApp(fixture(changes)).manifests.toJson());
}

/** The problems synth reports for the test fixture with these props changed (none when it builds). */
export function problems(changes: Partial<Fail2banProps>): string[] {
  try {
    buildApp(fixture(changes));
    return [];
  } catch (error) {
    if (error instanceof Fail2banConfigError) return [...error.problems];
    throw error;
  }
}

/** Every YAML document of a file. */
export function parseDocs(content: string): any[] {
  return parseAllDocuments(content).map((doc) => doc.toJS());
}

/** The one object of a kind in the synthesized files. */
export function objectOf(files: ManifestFiles, kind: string): any {
  const objects = Object.values(files)
    .flatMap(parseDocs)
    .filter((o) => o.kind === kind);
  expect(objects).toHaveLength(1);
  return objects[0];
}

/** A fresh temporary directory, removed by the caller with `fs.rmSync(dir, { recursive: true })`. */
export function tempDir(prefix = 'fail2ban-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Reads a directory into name → content. */
export function readTree(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((name) => [name, fs.readFileSync(path.join(dir, name), 'utf8')]),
  );
}

/** Sections of an INI file (fail2ban's `jail.local`) as section → key → value; continuation lines are joined. */
export function parseIni(text: string): Record<string, Record<string, string>> {
  return Object.fromEntries(parseIniSections(text).map((section) => [section.name, Object.fromEntries(section.settings)]));
}

/** The kubernetes-models class of an object, found by its apiVersion and kind. */
export function modelOf(object: { apiVersion: string; kind: string }): new (data: unknown) => { validate(): void } {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : [undefined, object.apiVersion];
  const module = group?.endsWith('fluxcd.io')
    ? require(`@kubernetes-models/flux-cd/${group}/${version}`)
    : require(group ? `kubernetes-models/${group === 'apps' ? 'apps' : group}/${version}` : `kubernetes-models/${version}`);
  expect(module[object.kind]).toBeDefined();
  return module[object.kind];
}
