import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Chart } from 'cdk8s';
import { FluxKustomization } from '../src/flux/kustomization';
import { describeWithTools } from './fail2ban-tools';
import { modelOf, parseDocs, synth, tempDir } from './helpers';

// GIVEN the test fixture synthesized, and a Flux Kustomization with its defaults; THEN every object is what the API
// server and Flux accept.
const manifests = synth();
const folderObjects = Object.entries(manifests)
  .filter(([name]) => name !== 'kustomization.yaml')
  .flatMap(([, content]) => parseDocs(content));
const MANIFESTS_PATH = './k3s/manifests/fail2ban';
const fluxObjects = (() => {
  const chart = new Chart(new App(), 'flux');
  new FluxKustomization(chart, 'fail2ban', { path: MANIFESTS_PATH, healthChecks: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fail2ban', namespace: 'fail2ban' }] });
  return chart.toJson();
})();

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

describe.each([...folderObjects, ...fluxObjects].map((o) => [`${o.kind} ${o.metadata.name}`, o]))('%s', (_, object) => {
  test('validates against the upstream OpenAPI schema', () => {
    const Model = modelOf(object);
    expect(() => new Model(object).validate()).not.toThrow();
  });

  test('has a DNS-1123 name and namespace', () => {
    expect(object.metadata.name).toMatch(object.kind === 'Namespace' ? DNS1123_LABEL : DNS1123_SUBDOMAIN);
    if (object.metadata.namespace !== undefined) {
      expect(object.metadata.namespace).toMatch(DNS1123_LABEL);
    }
  });

  test('has valid label keys and values', () => {
    const labelSets = [object.metadata.labels ?? {}, object.spec?.template?.metadata?.labels ?? {}];
    for (const [key, value] of labelSets.flatMap((labels) => Object.entries(labels))) {
      expect(key).toMatch(LABEL_KEY);
      expect(value).toMatch(LABEL_VALUE);
    }
  });
});

test('the schema check itself rejects a broken object', () => {
  const daemonSet = folderObjects.find((o) => o.kind === 'DaemonSet');
  const Model = modelOf(daemonSet);
  expect(() => new Model({ ...daemonSet, spec: { ...daemonSet.spec, selector: 'everything' } }).validate()).toThrow();
});

test('config map keys use only the allowed characters', () => {
  const configMap = folderObjects.find((o) => o.kind === 'ConfigMap');
  for (const key of Object.keys(configMap.data)) {
    expect(key).toMatch(/^[-._a-zA-Z0-9]+$/);
  }
});

test('the daemon set selector is a subset of its pod labels', () => {
  const daemonSet = folderObjects.find((o) => o.kind === 'DaemonSet');
  expect(daemonSet.spec.template.metadata.labels).toMatchObject(daemonSet.spec.selector.matchLabels);
});

describe('the Flux Kustomization', () => {
  const [kustomization] = fluxObjects;

  test('applies the manifests folder from the flux-system source and prunes what was removed', () => {
    expect(kustomization).toMatchObject({
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'fail2ban', namespace: 'flux-system' },
      spec: { path: MANIFESTS_PATH, prune: true, sourceRef: { kind: 'GitRepository', name: 'flux-system' } },
    });
  });

  test('fails the reconcile when the DaemonSet never becomes ready', () => {
    expect(kustomization.spec.healthChecks).toEqual([{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'fail2ban', namespace: 'fail2ban' }]);
    expect(kustomization.spec.timeout).toBe('5m');
    expect(kustomization.spec.retryInterval).toBe('2m');
    expect(kustomization.spec.interval).toBe('10m');
  });
});

describeWithTools(['kubectl'], 'kubectl kustomize (the build Flux runs)', () => {
  test('builds the folder into exactly the generated objects', () => {
    const dir = tempDir();
    for (const [name, content] of Object.entries(manifests)) fs.writeFileSync(path.join(dir, name), content);
    const built = parseDocs(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }));
    fs.rmSync(dir, { recursive: true, force: true });
    const key = (o: any) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(built.map(key).sort()).toEqual(folderObjects.map(key).sort());
    for (const object of folderObjects) {
      expect(built.find((o) => key(o) === key(object))).toEqual(object);
    }
  });
});
