import { JailProps } from '../src/model/jail';
import { PodLogSource } from '../src/model/pod-log';
import { Fail2banProps } from '../src/resolve/props';
import { podNamePattern } from '../src/features/pod-logs/pod-names';
import { FIXTURE, FIXTURE_TRAEFIK } from './fixture';
import { objectOf, parseIni, problems, synth } from './helpers';

/** The fixture with these jails after its own. */
const withJails = (...jails: JailProps[]): Partial<Fail2banProps> => ({ jails: [...FIXTURE.jails, ...jails] });


describe('a pod-log jail in the manifests', () => {
  // GIVEN the fixture with k3s's Traefik jail on pod logs
  const files = synth(withJails(FIXTURE_TRAEFIK));
  const spec = objectOf(files, 'DaemonSet').spec.template.spec;
  const container = (name: string) => spec.containers.find((c: any) => c.name === name);
  const envOf = (c: any): Record<string, any> => Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
  const section = parseIni(objectOf(files, 'ConfigMap').data['jail.local'])['traefik-auth'];

  test('jail.local reads /dev/null until the agent adds files: fail2ban starts the jail, and not the stock jail’s log path', () => {
    expect(section).toMatchObject({ enabled: 'true', filter: 'traefik-auth-json-cri', logpath: '/dev/null', port: '80,443', maxretry: '10' });
    expect(section.action).toContain('chain_hook="prerouting"');
  });

  test('the agent and the broker get the same POD_LOGS: the directory, and the namespace, pod names and container of each jail', () => {
    const [agent, broker] = [container('node-agent'), container('ban-broker')];
    expect(envOf(agent).POD_LOGS).toBe(envOf(broker).POD_LOGS);
    expect(JSON.parse(envOf(agent).POD_LOGS)).toEqual({
      dir: '/var/log/host/pods',
      jails: { 'traefik-auth': { namespace: 'kube-system', pod: podNamePattern(FIXTURE_TRAEFIK.podLogs!), container: 'traefik' } },
    });
  });

  test("the agent and the broker alone mount the kubelet's /var/log/pods, read-only, where fail2ban sees it inside its /var/log mount", () => {
    const volume = spec.volumes.find((v: any) => v.hostPath?.path === '/var/log/pods');
    expect(volume).toBeDefined();
    const mounting = [...spec.containers, ...spec.initContainers].filter((c: any) => (c.volumeMounts ?? []).some((m: any) => m.name === volume.name));
    expect(mounting.map((c: any) => c.name).sort()).toEqual(['ban-broker', 'node-agent']);
    for (const c of mounting) expect(c.volumeMounts.find((m: any) => m.name === volume.name)).toEqual({ name: volume.name, mountPath: '/var/log/host/pods', readOnly: true });
    expect(container('fail2ban').volumeMounts.find((m: any) => m.mountPath === '/var/log/host')).toMatchObject({ readOnly: true });
  });

  test('without an enabled pod-log jail there is no POD_LOGS and no mount', () => {
    for (const props of [{}, withJails({ ...FIXTURE_TRAEFIK, enabled: false })]) {
      const other = objectOf(synth(props), 'DaemonSet').spec.template.spec;
      expect(JSON.stringify(other)).not.toContain('POD_LOGS');
      expect(other.volumes.some((v: any) => v.hostPath?.path === '/var/log/pods')).toBe(false);
    }
  });
});

describe("the pods' names a source finds", () => {
  test.each<[string, PodLogSource, string[], string[]]>([
    [
      "a Deployment's: <name>-<template hash>-<5 letters>",
      { namespace: 'kube-system', workload: 'traefik', container: 'traefik' },
      ['traefik-57b79cf995-7lx2j', 'traefik-6f5f8d8d4c-x7k2p', 'traefik-5d-bcdfg'],
      [
        'traefik-dashboard-6f5f8d8d4c-x7k2p',
        'helm-install-traefik-x7k2p',
        'traefik-x7k2p',
        'traefik-57b79cf995-7lx2j-0',
        'traefik-abc-x7k2p',
        'svclb-traefik-6f5f8d8d4c-x7k2p',
        'traefik-29245678-x7k2p', // a CronJob traefik's Job's pod: digits are no template hash
        'traefik-v2-x7k2p', // a DaemonSet traefik-v2's: v is no letter a hash digit becomes
      ],
    ],
    ["a DaemonSet's: <name>-<5 letters>", { namespace: 'apps', workload: 'svclb-traefik', workloadKind: 'DaemonSet', container: 'lb' }, ['svclb-traefik-x7k2p'], ['svclb-traefik-57b79cf995-7lx2j', 'svclb-traefik-0']],
    ["a StatefulSet's: <name>-<ordinal>", { namespace: 'apps', workload: 'gitea', workloadKind: 'StatefulSet', container: 'gitea' }, ['gitea-0', 'gitea-12'], ['gitea-01', 'gitea-x7k2p', 'gitea-postgresql-0']],
    ['a dotted name, its dots taken literally', { namespace: 'apps', workload: 'app.v2', workloadKind: 'StatefulSet', container: 'app' }, ['app.v2-0'], ['appxv2-0']],
  ])('%s', (_, source, matching, other) => {
    const pattern = new RegExp(`^(?:${podNamePattern(source)})$`);
    for (const name of matching) expect(pattern.test(name)).toBe(true);
    for (const name of other) expect(pattern.test(name)).toBe(false);
  });
});

describe('a pod-log jail is checked at synth', () => {
  test('a valid one builds', () => {
    expect(problems(withJails(FIXTURE_TRAEFIK))).toEqual([]);
  });

  test('every problem at once, each naming the jail, the setting and the fix', () => {
    const found = problems(
      withJails({
        name: 'app-auth',
        filter: 'nginx-http-auth',
        podLogs: { namespace: 'Apps', workload: 'web_1', container: 'app server' },
        blocks: 'host',
        logMayBeMissing: true,
      }),
    );
    const expected = [
      ['podLogs.namespace "Apps"', 'e.g. \'kube-system\''],
      ['podLogs.container "app server"', 'the name in the pod spec'],
      ['podLogs.workload "web_1"', 'as kubectl shows it'],
      ['filter "nginx-http-auth" does not read pod logs', "'traefik-auth-json-cri'"],
      ["blocks: 'host-and-forwarded'", 'forwarded'],
      ['names no port', "'80,443'"],
      ['logMayBeMissing', 'drop logMayBeMissing'],
    ];
    expect(found).toHaveLength(expected.length);
    expected.forEach((fragments, index) => {
      expect(found[index]).toContain('jail "app-auth"');
      for (const fragment of fragments) expect(found[index]).toContain(fragment);
    });
  });

  test('a workload name Kubernetes would cut short in pod names, and an unknown kind, are refused', () => {
    expect(problems(withJails({ ...FIXTURE_TRAEFIK, podLogs: { ...FIXTURE_TRAEFIK.podLogs!, workload: 'a'.repeat(47) } }))).toEqual([expect.stringContaining('at most 46')]);
    expect(problems(withJails({ ...FIXTURE_TRAEFIK, podLogs: { ...FIXTURE_TRAEFIK.podLogs!, workloadKind: 'Job' as any } }))).toEqual([expect.stringContaining('podLogs.workloadKind "Job"')]);
  });

  test('logPath and podLogs together are refused', () => {
    expect(problems(withJails({ ...FIXTURE_TRAEFIK, logPath: '/var/log/host/traefik.log' }))).toEqual([expect.stringContaining('has both logPath and podLogs')]);
  });
});
