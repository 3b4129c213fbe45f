import { parse } from 'yaml';
import { JailProps } from '../src/model/jail';
import { Fail2banProps } from '../src/resolve/props';
import { buildApp } from '../src/main';
import { FIXTURE, fixture } from './fixture';
import { objectOf, parseDocs, problems, synth } from './helpers';
import { closedSchema, crdSchema, crdValidator } from './harness/crd-schema';

// k3s's Traefik set up for the Traefik jails: GIVEN the test fixture with `k3sTraefik` and a jail on Traefik's pod
// log; WHEN it is synthesized; THEN the HelmChartConfig kube-system/traefik is what k3s's helm-controller accepts,
// its values turn on the JSON access log on stdout and externalTrafficPolicy Local, merged with the user's own;
// a user value that contradicts them is refused, and synth warns while a Traefik jail runs without it.

/** A jail on the pod log of k3s's Traefik, read with the JSON filter. */
const TRAEFIK_JAIL: JailProps = {
  name: 'traefik-auth',
  filter: 'traefik-auth-json-cri',
  podLogs: { namespace: 'kube-system', workload: 'traefik', container: 'traefik' },
  port: '80,443',
  blocks: 'host-and-forwarded',
  maxRetry: 5,
};
/** The fixture's jails on host logs: whatever pod-log jails it has, each test adds its own. */
const HOST_JAILS = FIXTURE.jails.filter((jail) => jail.podLogs === undefined);
const WITH_TRAEFIK = { jails: [...HOST_JAILS, TRAEFIK_JAIL] };
const MANAGED: Partial<Fail2banProps> = { ...WITH_TRAEFIK, k3sTraefik: { manageHelmChartConfig: true } };

/** The HelmChartConfig synth writes for the fixture with these props changed. */
function helmChartConfig(changes: Partial<Fail2banProps>): any {
  return objectOf(synth(changes), 'HelmChartConfig');
}

/** The chart values of that HelmChartConfig. */
function valuesOf(changes: Partial<Fail2banProps>): any {
  return parse(helmChartConfig(changes).spec.valuesContent);
}


/** The warnings about Traefik synth prints for the fixture with these props changed. */
function traefikWarnings(changes: Partial<Fail2banProps>): string[] {
  return buildApp(fixture(changes)).warnings!.filter((warning) => warning.includes('Traefik') || warning.includes('k3sTraefik'));
}

describe('the HelmChartConfig against the CRD schema of k3s-io/helm-controller (test/schemas/helmchartconfig.json)', () => {
  const schema = crdSchema('helmchartconfig.json');
  const validate = crdValidator(schema);
  const validateClosed = crdValidator(closedSchema(schema));
  const object = helmChartConfig(MANAGED);

  test('the generated object validates, and no field of it would be pruned', () => {
    expect(validate(object)).toBe(true);
    expect(validateClosed(object)).toBe(true);
  });

  test.each([
    ['valuesContent as a mapping', { ...object, spec: { valuesContent: { logs: {} } } }, validate],
    ['a failurePolicy helm-controller does not know', { ...object, spec: { ...object.spec, failurePolicy: 'sometimes' } }, validate],
    ['spec as a string', { ...object, spec: 'valuesContent' }, validate],
    ['a misspelled field, which the API server would prune', { ...object, spec: { valueContent: object.spec.valuesContent } }, validateClosed],
  ])('the check itself rejects a broken object: %s', (_, broken, check) => {
    expect(check(broken)).toBe(false);
  });

  test("it is k3s's Traefik HelmChart's name and namespace, and nothing forces another namespace on it", () => {
    const files = synth(MANAGED);
    expect(object).toMatchObject({ apiVersion: 'helm.cattle.io/v1', kind: 'HelmChartConfig', metadata: { name: 'traefik', namespace: 'kube-system' } });
    // The folder's kustomization.yaml lists it and sets no namespace; the Flux Kustomization sets no targetNamespace.
    const [kustomization] = parseDocs(files['kustomization.yaml']);
    expect(kustomization.resources).toContain('helmchartconfig.yaml');
    expect(kustomization.namespace).toBeUndefined();
    const [flux] = buildApp(fixture(MANAGED)).files!.flux as any[];
    expect(flux.spec.targetNamespace).toBeUndefined();
  });
});

describe('the chart values', () => {
  test('turn on the JSON access log on stdout, keeping the fields the filter reads, and externalTrafficPolicy Local', () => {
    const values = valuesOf(MANAGED);
    expect(values.logs.access).toEqual({
      enabled: true,
      format: 'json',
      filePath: '',
      fields: { general: { names: { ClientAddr: 'keep', DownstreamStatus: 'keep' } } },
    });
    expect(values.service).toEqual({ spec: { externalTrafficPolicy: 'Local' } });
  });

  test("merge the user's values with the package's, key by key", () => {
    const values = valuesOf({
      jails: [...HOST_JAILS, { ...TRAEFIK_JAIL, podLogs: { ...TRAEFIK_JAIL.podLogs!, workloadKind: 'DaemonSet' } }],
      k3sTraefik: {
        manageHelmChartConfig: true,
        values: {
          deployment: { kind: 'DaemonSet' },
          logs: { general: { level: 'WARN' }, access: { format: 'json', fields: { general: { defaultmode: 'drop' }, headers: { names: { 'User-Agent': 'keep' } } } } },
          service: { annotations: { team: 'homelab' }, spec: { externalTrafficPolicy: 'Local', loadBalancerClass: 'example' } },
          ports: { web: { redirections: { entryPoint: { to: 'websecure', scheme: 'https' } } } },
        },
      },
    });
    expect(values.deployment).toEqual({ kind: 'DaemonSet' });
    expect(values.logs.general).toEqual({ level: 'WARN' });
    expect(values.logs.access.fields).toEqual({
      general: { defaultmode: 'drop', names: { ClientAddr: 'keep', DownstreamStatus: 'keep' } },
      headers: { names: { 'User-Agent': 'keep' } },
    });
    expect(values.logs.access).toMatchObject({ enabled: true, format: 'json', filePath: '' });
    expect(values.service).toEqual({ annotations: { team: 'homelab' }, spec: { externalTrafficPolicy: 'Local', loadBalancerClass: 'example' } });
    expect(values.ports.web.redirections.entryPoint).toEqual({ to: 'websecure', scheme: 'https' });
  });

  test('are written the same whatever order the user wrote the keys in, keys sorted', () => {
    const content = (values: Record<string, unknown>) => helmChartConfig({ ...MANAGED, k3sTraefik: { manageHelmChartConfig: true, values } }).spec.valuesContent;
    const one = content({ deployment: { replicas: 2, annotations: { team: 'homelab' } }, additionalArguments: ['--a', '--b'] });
    const other = content({ additionalArguments: ['--a', '--b'], deployment: { annotations: { team: 'homelab' }, replicas: 2 } });
    expect(one).toBe(other);
    expect(one.split('\n').filter((line: string) => /^\w/.test(line))).toEqual(['additionalArguments:', 'deployment:', 'logs:', 'service:']);
    expect(helmChartConfig(MANAGED).spec.valuesContent).toBe(helmChartConfig(MANAGED).spec.valuesContent);
  });

  test.each<[string, Record<string, unknown>, string[]]>([
    ['the access log off', { logs: { access: { enabled: false } } }, ['logs.access.enabled is false', 'the jail reads the access log', 'Fix: remove logs.access.enabled']],
    ['the common log format', { logs: { access: { format: 'common' } } }, ['logs.access.format is "common"', 'JSON', 'Fix: remove logs.access.format', 'sets it to "json"']],
    ['the access log in a file', { logs: { access: { filePath: '/var/log/traefik/access.log' } } }, ['logs.access.filePath is "/var/log/traefik/access.log"', 'stdout', 'Fix: remove logs.access.filePath']],
    ['ClientAddr dropped', { logs: { access: { fields: { general: { names: { ClientAddr: 'drop' } } } } } }, ['logs.access.fields.general.names.ClientAddr is "drop"', 'Fix: remove']],
    ['DownstreamStatus redacted', { logs: { access: { fields: { general: { names: { DownstreamStatus: 'redact' } } } } } }, ['logs.access.fields.general.names.DownstreamStatus is "redact"']],
    ['externalTrafficPolicy Cluster', { service: { spec: { externalTrafficPolicy: 'Cluster' } } }, ['service.spec.externalTrafficPolicy is "Cluster"', "clients' addresses", 'Fix: remove service.spec.externalTrafficPolicy', 'sets it to "Local"']],
    ['logs.access not a mapping', { logs: { access: 'on' } }, ['logs.access is "on", not a mapping', 'Fix: make logs.access a mapping, or remove it']],
    ['status codes without 401', { logs: { access: { filters: { statuscodes: '500-599' } } } }, ['logs.access.filters.statuscodes is "500-599"', '401', 'Fix: include 401']],
    ['a ClusterIP Service', { service: { type: 'ClusterIP' } }, ['service.type is "ClusterIP"', 'LoadBalancer and NodePort', 'Fix: remove service.type']],
  ])('a user value that contradicts what the jail needs is refused with the key and the fix: %s', (_, values, fragments) => {
    const found = problems({ ...MANAGED, k3sTraefik: { manageHelmChartConfig: true, values } });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^k3sTraefik\.values: /);
    for (const fragment of fragments) expect(found[0]).toContain(fragment);
  });

  test.each<[string, 'Deployment' | 'DaemonSet' | undefined, Record<string, unknown>, string]>([
    ['Traefik made a DaemonSet, the jail looking for a Deployment', undefined, { deployment: { kind: 'DaemonSet' } }, "podLogs.workloadKind is 'Deployment', but Traefik runs as a DaemonSet"],
    ["the jail looking for a DaemonSet, Traefik left k3s's Deployment", 'DaemonSet', {}, "podLogs.workloadKind is 'DaemonSet', but Traefik runs as a Deployment (k3sTraefik.values.deployment.kind unset)"],
  ])('a Traefik jail that would look for the wrong pods is refused: %s', (_, workloadKind, values, fragment) => {
    const jail: JailProps = { ...TRAEFIK_JAIL, podLogs: { ...TRAEFIK_JAIL.podLogs!, workloadKind } };
    const found = problems({ jails: [...HOST_JAILS, jail], k3sTraefik: { manageHelmChartConfig: true, values } });
    expect(found).toEqual([expect.stringContaining(`jail "traefik-auth": ${fragment}`)]);
    expect(found[0]).toContain(`Fix: set podLogs.workloadKind: '${workloadKind === 'DaemonSet' ? 'Deployment' : 'DaemonSet'}'`);
  });

  test('user values that agree with the package, or let 401 through, are accepted', () => {
    const values = {
      logs: { access: { enabled: true, format: 'json', filters: { statuscodes: '400-499,500' }, fields: { general: { names: { ClientAddr: 'keep' } } } } },
      service: { type: 'LoadBalancer', spec: { externalTrafficPolicy: 'Local' } },
    };
    expect(problems({ ...MANAGED, k3sTraefik: { manageHelmChartConfig: true, values } })).toEqual([]);
  });
});

describe('the warning while the package does not manage Traefik', () => {
  test('an enabled Traefik jail without management: names the jail, the two values and the setting that sets them', () => {
    const warnings = traefikWarnings(WITH_TRAEFIK);
    expect(warnings).toHaveLength(1);
    for (const fragment of ['jail "traefik-auth"', 'kube-system/traefik', 'logs.access.enabled: true', 'logs.access.format: json', 'stdout', 'service.spec.externalTrafficPolicy: Local', 'k3sTraefik: { manageHelmChartConfig: true }']) {
      expect(warnings[0]).toContain(fragment);
    }
    expect(synth(WITH_TRAEFIK)['helmchartconfig.yaml']).toBeUndefined();
  });

  test.each<[string, Partial<Fail2banProps>]>([
    ['management on', MANAGED],
    ['no Traefik jail', { jails: HOST_JAILS }],
    ['the Traefik jail disabled', { jails: [...HOST_JAILS, { ...TRAEFIK_JAIL, enabled: false }] }],
    ["a jail on another workload's pod log", { jails: [...HOST_JAILS, { ...TRAEFIK_JAIL, podLogs: { namespace: 'apps', workload: 'gitea', container: 'gitea' } }] }],
    ['management off explicitly, no Traefik jail', { jails: HOST_JAILS, k3sTraefik: { manageHelmChartConfig: false } }],
  ])('no warning with %s', (_, changes) => {
    expect(traefikWarnings(changes)).toEqual([]);
  });

  test('values without management: they would go nowhere, and synth says so', () => {
    const warnings = traefikWarnings({ jails: HOST_JAILS, k3sTraefik: { values: { deployment: { kind: 'DaemonSet' } } } });
    expect(warnings).toEqual([expect.stringContaining('k3sTraefik.values is set, but k3sTraefik.manageHelmChartConfig is not')]);
  });
});
