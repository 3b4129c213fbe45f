import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildApp, homelab, paths } from '../src/main';
import { resolveGithubWorkflow } from '../src/model/github-actions';
import { runSynth } from '../src/synth/cli';
import { renderManifests } from '../src/outputs/manifests';
import { describeWithTools } from './fail2ban-tools';
import { Fail2banLab, readSynthesized } from './harness/lab';
import { objectOf, parseDocs, parseIni, readTree, tempDir } from './helpers';

// The homelab of src/main.ts: the user's own settings. Only these tests depend on them; every other test builds its
// own props (test/fixture.ts). After a change of src/main.ts and `npm run synth`, the snapshots and the seed parity
// below fail until `npx jest -u` records the new values (README: "Changing a jail").

const committed = readTree(paths.manifestsDir);

describe('the committed files (run `npm run synth` and commit)', () => {
  test('are what synth generates from src/main.ts: the folder, the Flux file, the audit policy, the document', () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = runSynth(['--check'], () => buildApp(), paths, { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(err.filter((line) => !line.startsWith('warning: '))).toEqual([]);
    expect(out).toEqual(['synth --check: up to date']);
    expect(code).toBe(0);
  });

  test('`npm run synth` (the esbuild bundle in dist/app/) writes what the sources do, filters included', () => {
    const dir = tempDir();
    try {
      const out = path.join(dir, 'manifests');
      const result = spawnSync(process.execPath, ['scripts/synth.js', '--out', out], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
      expect(result.stderr).not.toMatch(/error/i);
      expect(result.status).toBe(0);
      expect(readTree(out)).toEqual(renderManifests(buildApp().manifests.toJson()));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the Flux file lives outside the folder it applies (Flux would otherwise apply it twice)', () => {
    expect(path.resolve(paths.files.flux).startsWith(path.resolve(paths.manifestsDir) + path.sep)).toBe(false);
  });

  test('the "Manage Fail2ban" workflow asks for the audience and runs in the environment the API server accepts', () => {
    const workflow = resolveGithubWorkflow(homelab.banManager!.github);
    const file = parseDocs(fs.readFileSync(workflow.workflow, 'utf8'))[0];
    const steps = file.jobs.manage.steps;
    expect(file.jobs.manage.environment).toBe(workflow.environment);
    expect(steps.find((step: any) => step.env?.AUDIENCE)?.env.AUDIENCE).toBe(workflow.audience);
    expect(file.on).toHaveProperty('workflow_dispatch');
  });

  test.each(Object.keys(committed))('%s matches its snapshot', (name) => {
    expect(committed[name]).toMatchSnapshot();
  });
});

/**
 * The homelab's settings in the shape of the seed's tables (the operations document of the deployment it replaced).
 * Its privileges differ on purpose (README: "What differs from the deployment this replaces").
 */
function seedTables() {
  const configMap = objectOf(committed, 'ConfigMap');
  const daemonSet = objectOf(committed, 'DaemonSet');
  const ini = parseIni(configMap.data['jail.local']);
  const flux = parseDocs(fs.readFileSync(paths.files.flux, 'utf8'))[0];
  const pod = daemonSet.spec.template.spec;
  const jail = (name: string) => ({ logpath: ini[name].logpath, maxretry: ini[name].maxretry, bantime: ini[name].bantime });
  return {
    overview: {
      namespace: homelab.namespace,
      workload: daemonSet.kind,
      image: pod.containers[0].image,
      flux: `${flux.metadata.name} (namespace ${flux.metadata.namespace})`,
    },
    defaults: ini.DEFAULT,
    sshd: jail('sshd'),
    'k3s-apiserver': jail('k3s-apiserver'),
  };
}

test('seed parity: the homelab has the seed’s settings (its ignoreip gains the cluster block’s pod and service networks; its nftables bans go in batches)', () => {
  expect(seedTables()).toMatchInlineSnapshot(`
{
  "defaults": {
    "backend": "auto",
    "banaction": "nftables-batch.py",
    "bantime": "1h",
    "findtime": "10m",
    "ignoreip": "127.0.0.1/8 ::1 100.64.0.0/10 10.42.0.0/16 10.43.0.0/16",
    "maxretry": "5",
  },
  "k3s-apiserver": {
    "bantime": "1h",
    "logpath": "/var/log/host/syslog",
    "maxretry": "10",
  },
  "overview": {
    "flux": "fail2ban (namespace flux-system)",
    "image": "crazymax/fail2ban:1.0.2",
    "namespace": "fail2ban",
    "workload": "DaemonSet",
  },
  "sshd": {
    "bantime": "24h",
    "logpath": "/var/log/host/auth.log",
    "maxretry": "3",
  },
}
`);
});

describeWithTools(
  ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'],
  'the committed configuration in a real fail2ban-server',
  () => {
    const config = readSynthesized();
    const ini = parseIni(config.files['jail.local']);
    const enabled = Object.keys(ini).filter((name) => name !== 'DEFAULT' && ini[name].enabled === 'true');
    let lab: Fail2banLab;

    beforeAll(async () => {
      lab = await Fail2banLab.start({ name: 'f2b-homelab', config });
    });
    afterAll(() => lab?.destroy());

    test('starts and runs every enabled jail of jail.local with its maxretry', () => {
      expect(enabled.length).toBeGreaterThan(0);
      expect(lab.client('status').match(/Jail list:\s+(.*)/)![1].split(', ').sort()).toEqual([...enabled].sort());
      for (const name of enabled) {
        expect(lab.client('get', name, 'maxretry')).toBe(ini[name].maxretry ?? ini.DEFAULT.maxretry);
      }
    });
  },
  { root: true },
);
