import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Duration } from 'cdk8s';
import { loadFilters } from '../src/model/filter';
import { Fail2banProps } from '../src/resolve/props';
import { buildApp, paths } from '../src/main';
import { runSynth } from '../src/synth/cli';
import { PLACEHOLDER_REPOSITORY } from '../src/model/github-actions';
import { FIXTURE, fixture, withJail } from './fixture';
import { problems, tempDir } from './helpers';

const shipped = loadFilters();
const goodFilter = shipped[0];


/** The fixture with one sshd setting changed. */
function sshd(settings: Record<string, unknown>): Partial<Fail2banProps> {
  return withJail('sshd', settings);
}

function expectOneProblem(props: Partial<Fail2banProps>, ...fragments: string[]): void {
  const found = problems(props);
  expect(found).toHaveLength(1);
  for (const fragment of fragments) {
    expect(found[0]).toContain(fragment);
  }
}

test('the fixture has no problems', () => {
  expect(problems({})).toEqual([]);
});

describe('ConfigMap keys', () => {
  test.each(['filter.d/x', 'my filter'])('a filter named "%s" is refused with the key rule and how the mount path is built', (name) => {
    expectOneProblem(
      { filters: [...shipped, { name, content: goodFilter.content }] },
      `filter "${name}"`,
      "never '/'",
      'mount path /data/filter.d/',
    );
  });
});

describe('backend', () => {
  test.each(['systemd', 'systemd[journalflags=1]'])('"%s" is refused: the Alpine image has no systemd module', (backend) => {
    expectOneProblem(sshd({ backend }), 'jail "sshd"', `backend "${backend}"`, 'no python systemd module', "Fix: backend 'auto'");
  });

  test('in [DEFAULT] it is refused too, naming [DEFAULT]', () => {
    expectOneProblem({ defaults: { ...FIXTURE.defaults, backend: 'systemd' } }, '[DEFAULT]: backend "systemd"');
  });

  test.each(['auto', 'pyinotify', 'polling'])('"%s" is accepted', (backend) => {
    expect(problems(sshd({ backend }))).toEqual([]);
  });
});

describe('logpath', () => {
  test.each(['/var/log/host/journal', '/var/log/journal', '/var/log/host/', '/var/log/host'])('directory "%s" is refused with IsADirectoryError', (logPath) => {
    expectOneProblem(sshd({ logPath }), 'jail "sshd"', `logpath "${logPath}" is a directory`, 'IsADirectoryError');
  });

  test('a file in a directory mounted with hostPathMounts is read', () => {
    expect(problems({ hostPathMounts: [{ hostPath: '/srv/gitea/log', containerPath: '/mnt/gitea-log' }], ...sshd({ logPath: '/mnt/gitea-log/gitea.log' }) })).toEqual([]);
    expectOneProblem(
      { hostPathMounts: [{ hostPath: '/srv/gitea/log', containerPath: '/mnt/gitea-log' }], ...sshd({ logPath: '/mnt/other/gitea.log' }) },
      'outside the host log mount /var/log/host and the hostPathMounts',
    );
  });

  test('a file outside the host log mount is refused', () => {
    expectOneProblem(sshd({ logPath: '/var/log/auth.log' }), 'outside the host log mount /var/log/host', "hostLog('auth.log')");
  });

  test('a pattern cannot be created on the nodes', () => {
    expectOneProblem(sshd({ logPath: '/var/log/host/auth*.log', logMayBeMissing: true }), 'logMayBeMissing needs plain file paths');
  });

  test('an empty list is refused', () => {
    expectOneProblem(sshd({ logPath: [] }), 'logpath is empty');
  });
});

describe('filters and actions', () => {
  test('an unknown filter is refused with the nearest name', () => {
    expectOneProblem(
      { jails: [{ name: 'api', filter: 'k3s-apiservr', logPath: '/var/log/host/syslog' }] },
      'jail "api": filter "k3s-apiservr" is neither in filters/ nor a stock filter',
      'Did you mean "k3s-apiserver"?',
    );
  });

  test('a jail without filter uses the stock filter of its name, and an unknown name is refused', () => {
    expect(problems({ jails: [{ name: 'nginx-http-auth', logPath: '/var/log/host/nginx/error.log' }] })).toEqual([]);
    expectOneProblem({ jails: [{ name: 'sshd-typo', logPath: '/var/log/host/auth.log' }] }, 'filter "sshd-typo"');
  });

  test('filter parameters are allowed on a known filter', () => {
    expect(problems(sshd({ filter: 'sshd[mode=aggressive]' }))).toEqual([]);
  });

  test('an unknown banaction is refused with the nearest name', () => {
    expectOneProblem({ defaults: { ...FIXTURE.defaults, banAction: 'nftable-multiport' } }, 'banaction "nftable-multiport"', 'Did you mean "nftables-multiport"?');
  });
});

describe('durations', () => {
  test.each(['600', '10m', '1h', '24h', '1d', '1w', '10 minutes', '1 day'])('"%s" is accepted as fail2ban reads it', (findTime) => {
    expect(problems(sshd({ findTime }))).toEqual([]);
  });

  test.each(['10 mins', '10 secs', 'PT10M', ''])('"%s" is refused with examples of what works', (findTime) => {
    expectOneProblem(sshd({ findTime }), `jail "sshd": findtime "${findTime}" is not a duration fail2ban 1.0.2 reads`, "'10m'");
  });

  test('a negative ban time is refused in favour of explicit permanent', () => {
    expectOneProblem(sshd({ banTime: '-1' }), 'bantime "-1" must be longer than zero', "'permanent'");
    expect(problems(sshd({ banTime: 'permanent' }))).toEqual([]);
  });

  test('a zero Duration is refused', () => {
    expectOneProblem(sshd({ findTime: Duration.seconds(0) }), 'findtime "0s" must be longer than zero');
  });
});

describe('ban scope and repeat offenders', () => {
  test("'host-and-forwarded' needs an nftables banaction", () => {
    expectOneProblem(sshd({ blocks: 'host-and-forwarded', banAction: 'iptables-multiport' }), "blocks 'host-and-forwarded'", "'nftables-batch'");
    expect(problems(sshd({ blocks: 'host-and-forwarded' }))).toEqual([]);
  });

  test('a ban-time factor must be positive and a max time readable', () => {
    expectOneProblem(sshd({ banTimeIncrement: { factor: 0 } }), 'bantime.factor 0 must be greater than 0');
    expectOneProblem(sshd({ banTimeIncrement: { maxTime: '1 fortnight' } }), 'bantime.maxtime "1 fortnight" is not a duration');
  });
});

describe('maxretry and findtime', () => {
  test.each([0, -1, 2.5])('maxretry %p is refused', (maxRetry) => {
    expectOneProblem(sshd({ maxRetry }), `jail "sshd": maxretry ${maxRetry} is not a whole number of at least 1`, 'bans on the first log line');
  });
});

describe('ignoreip', () => {
  test.each(['192.0.2.1', '198.51.100.0/24', '2001:db8::/32', '::1'])('"%s" is accepted', (entry) => {
    expect(problems(sshd({ ignoreIp: [entry] }))).toEqual([]);
  });

  test.each(['192.0.2.0/33', '2001:db8::/129'])('"%s" has an invalid prefix length', (entry) => {
    expectOneProblem(sshd({ ignoreIp: [entry] }), `ignoreip "${entry}" has an invalid prefix length`);
  });

  test('a host name is refused unless explicitly allowed', () => {
    expectOneProblem(sshd({ ignoreIp: ['bastion.example.com'] }), 'is a host name', 'allowHostnamesInIgnoreIp');
    expect(problems({ ...sshd({ ignoreIp: ['bastion.example.com'] }), allowHostnamesInIgnoreIp: true })).toEqual([]);
  });

  test('garbage is refused', () => {
    expectOneProblem(sshd({ ignoreIp: ['192.0.2.1;reboot'] }), 'neither an IPv4/IPv6 address nor a CIDR range');
  });

  test('an IPv6 zone id is refused: fail2ban 1.0.2 does not read fe80::1%eth0 as an address', () => {
    expectOneProblem(sshd({ ignoreIp: ['fe80::1%eth0'] }), 'ignoreip "fe80::1%eth0" is neither an IPv4/IPv6 address nor a CIDR range');
  });
});

describe('jail names', () => {
  test('a duplicate jail is refused', () => {
    expectOneProblem({ jails: [...FIXTURE.jails, FIXTURE.jails[0]] }, 'jail "sshd" is defined more than once');
  });

  test.each(['my jail', 'a]b', 'DEFAULT', 'x'.repeat(33)])('"%s" is refused as a jail name', (name) => {
    expect(problems({ jails: [{ name, filter: 'sshd', logPath: '/var/log/host/auth.log' }] })).toEqual([expect.stringContaining('is not usable as a fail2ban jail')]);
  });
});

describe('the API group and jail names in object names', () => {
  test.each(['fail2ban', 'Fail2ban.Example', 'fail2ban..example', '-x.example'])('apiGroup "%s" is refused', (apiGroup) => {
    expect(problems({ apiGroup })).toEqual([expect.stringContaining(`apiGroup "${apiGroup}" is not a DNS subdomain with a dot`)]);
  });

  test('a jail fail2ban takes but an object name cannot start is refused, with a name that works', () => {
    const jails = [{ name: 'Web_Auth', filter: 'sshd', logPath: '/var/log/host/auth.log' }];
    expect(problems({ jails })).toEqual([expect.stringContaining('jail "Web_Auth": its name starts the names of operator bans')]);
    expect(problems({ jails })[0]).toContain('"web-auth"');
  });
});

describe('database purge age', () => {
  test('shorter than the longest bantime is refused', () => {
    expectOneProblem({ dbPurgeAge: '1h' }, 'dbPurgeAge (F2B_DB_PURGE_AGE) "1h" is shorter than the longest bantime (86400s)');
  });

  test('at least the longest bantime is accepted', () => {
    expect(problems({ dbPurgeAge: Duration.days(2) })).toEqual([]);
  });
});

describe('time zone', () => {
  test.each(['Mars/Olympus', 'europe/berlin', 'CET; rm'])('"%s" is refused', (timeZone) => {
    expectOneProblem({ timeZone }, `timeZone "${timeZone}" is not an IANA time zone name`);
  });

  test('a wrongly cased zone gets the right spelling', () => {
    expect(problems({ timeZone: 'europe/berlin' })[0]).toContain('Did you mean "Europe/Berlin"?');
  });

  test.each(['UTC', 'Europe/Berlin', 'America/New_York'])('"%s" is accepted', (timeZone) => {
    expect(problems({ timeZone })).toEqual([]);
  });
});

describe('filter files', () => {
  const filter = (content: string) => ({ filters: [...shipped, { name: 'custom', content }] });

  test('without [Definition] it is refused', () => {
    expectOneProblem(filter('[INCLUDES]\nbefore = common.conf\n'), 'filters/custom.conf: has no [Definition] section');
  });

  test('without failregex it is refused', () => {
    expectOneProblem(filter('[Definition]\nignoreregex =\n'), 'filters/custom.conf: [Definition] has no failregex');
  });

  test('a failregex without a host tag is refused', () => {
    expectOneProblem(filter('[Definition]\nfailregex = ^Failed login from \\S+$\n'), 'has no host tag', '<ADDR>');
  });

  test('a host tag reached through an interpolation counts', () => {
    expect(problems(filter('[Definition]\n_peer = from <ADDR>\nfailregex = ^Failed login %(_peer)s$\n'))).toEqual([]);
  });

  test('a failregex Python could not compile is refused', () => {
    expectOneProblem(filter('[Definition]\nfailregex = ^Failed (login from <ADDR>$\n'), 'is not a valid regular expression');
  });

  test('a datepattern Python could not compile is refused', () => {
    expectOneProblem(filter('[Definition]\nfailregex = ^Failed from <ADDR>$\ndatepattern = ^(%%Y-%%m-%%d\n'), 'datepattern "^(%%Y-%%m-%%d" is not a valid regular expression');
  });

  test('Python-only syntax is not mistaken for an error', () => {
    expect(problems(filter('[Definition]\nfailregex = ^(?i)Failed (?P<user>\\w+) (?P=user) from <HOST>$\n'))).toEqual([]);
  });
});

describe('image', () => {
  test.each(['crazymax/fail2ban', 'crazymax/fail2ban:latest'])('"%s" is refused as unpinned', (image) => {
    expectOneProblem({ image }, `image "${image}" is not pinned`, 'allowUnpinnedImage');
  });

  test('an unpinned image is allowed on purpose', () => {
    expect(problems({ image: 'crazymax/fail2ban:latest', allowUnpinnedImage: true })).toEqual([]);
  });

  test('a digest or a registry with a port is pinned', () => {
    expect(problems({ image: 'registry.example:5000/fail2ban:1.0.2' })).toEqual([]);
    expect(problems({ image: `crazymax/fail2ban@sha256:${'a'.repeat(64)}` })).toEqual([]);
  });
});

describe('ports', () => {
  test.each(['ssh', '22,2222', '6443', '8000:8100', 'http,https'])('"%s" is accepted', (port) => {
    expect(problems(sshd({ port }))).toEqual([]);
  });

  test.each(['0', '70000', '22;reboot', '9000:8000'])('"%s" is refused', (port) => {
    expectOneProblem(sshd({ port }), `port "${port}" has invalid entries`, 'ranges FROM:TO');
  });
});

describe('strings that reach jail.local are checked as written', () => {
  test('a banaction that smuggles lines into jail.local is refused', () => {
    const found = problems(sshd({ banAction: 'nftables-multiport[x]\nignoreip = 0.0.0.0/0 ::/0\n[sshd-evil]' }));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^jail "sshd": banAction ".*" holds a control character/),
        expect.stringContaining('jail "sshd": banaction "nftables-multiport[x]\nignoreip'),
      ]),
    );
  });

  test.each([
    ['a logPath with a newline', { logPath: '/var/log/host/auth.log\n[evil]' }, 'jail "sshd": logPath "/var/log/host/auth.log\\n[evil]" holds a control character'],
    ['a port with a newline', { port: 'ssh,\nfoo' }, 'jail "sshd": port "ssh,\\nfoo" holds a control character'],
    ['a filter with a newline', { filter: 'sshd\nenabled = false' }, 'jail "sshd": filter "sshd\\nenabled = false" holds a control character'],
    ['an ignoreip entry with a tab', { ignoreIp: ['192.0.2.1\t'] }, 'jail "sshd": ignoreIp[5] "192.0.2.1\\t" holds a control character'],
  ])('%s is refused', (_, settings, fragment) => {
    expect(problems(sshd(settings))).toContainEqual(expect.stringContaining(fragment));
  });

  test("a logPath that climbs out of the host log mount is refused, also where it would create the file ('logMayBeMissing')", () => {
    expectOneProblem(sshd({ logPath: '/var/log/host/../../../etc/shadow', logMayBeMissing: true }), `logpath "/var/log/host/../../../etc/shadow" has a space or a '.' or '..' segment`);
  });

  test('a logPath with a space (fail2ban reads head/tail after it) is refused', () => {
    expectOneProblem(sshd({ logPath: '/var/log/host/auth.log tail' }), "has a space or a '.' or '..' segment");
  });

  test('a port is checked item by item as written: a space after a comma is refused', () => {
    expectOneProblem(sshd({ port: 'ssh, 2222' }), 'port "ssh, 2222" has invalid entries (" 2222")', 'without spaces');
  });

  test('a duration is checked as written', () => {
    expectOneProblem(sshd({ findTime: ' 10m' }), 'findtime " 10m" has spaces around it');
  });

  test.each(['sshd[mode=aggressive]x', 'sshd[mode=aggressive', 'sshd[mode="a"b]', 'sshd]', 'ss hd'])('filter "%s" is not one reference', (filter) => {
    expect(problems(sshd({ filter }))).toContainEqual(expect.stringContaining(`jail "sshd": filter "${filter}" is not one name with options in fail2ban's form`));
  });

  test.each(['nftables-multiport[name=SSH, port="22,2222", protocol=tcp]', "nftables-allports[blocktype='reject with icmp-port-unreachable']", 'nftables-multiport[port="%(port)s"]'])(
    'banaction "%s" is one reference',
    (banAction) => {
      expect(problems(sshd({ banAction }))).toEqual([]);
    },
  );

  test('a filter file with a control character is refused', () => {
    expectOneProblem({ filters: [...shipped, { name: 'evil', content: `${goodFilter.content}\u0000` }] }, 'filter "evil": filters/evil.conf holds a control character');
  });

  test('the cluster block and the image are checked too', () => {
    expect(problems({ image: 'crazymax/fail2ban:1.0.2\n---', cluster: { nodeAddresses: ['192.0.2.1\n'] } })).toEqual(
      expect.arrayContaining([expect.stringContaining('image "crazymax/fail2ban:1.0.2\\n---" holds a control character'), expect.stringContaining('cluster.nodeAddresses[0] "192.0.2.1\\n" holds a control character')]),
    );
  });
});

describe('banManager.github: what the workflow token\'s claims are compared with', () => {
  test.each([
    [{ repository: 'example-user' }, 'repository "example-user"'],
    [{ repository: 'example-user/homelab', workflow: 'manage.yml' }, 'workflow "manage.yml"'],
    [{ repository: 'example-user/homelab', branch: 'main..x' }, 'branch "main..x"'],
    [{ repository: 'example-user/homelab', environment: "prod' || true" }, `environment "prod' || true"`],
  ])('%j is refused', (github, fragment) => {
    expectOneProblem({ banManager: { github } }, `banManager.github: ${fragment} is not what the token's claims can hold`);
  });

  test('the placeholder repository builds, with a warning that says what to set', () => {
    expect(problems({ banManager: { github: { repository: PLACEHOLDER_REPOSITORY } } })).toEqual([]);
    expect(buildApp(fixture({ banManager: { github: { repository: PLACEHOLDER_REPOSITORY } } })).warnings).toContainEqual(
      expect.stringContaining("banManager.github.repository is the placeholder \"set_your_github_user/repository\": no workflow can manage bans. Fix: in src/main.ts, set it to this repository's owner/name"),
    );
  });
});

test('an IPv4-mapped ignoreip range protects nothing and is refused with the IPv4 form to write', () => {
  expectOneProblem(sshd({ ignoreIp: ['::ffff:203.0.113.0/120'] }), 'ignoreip "::ffff:203.0.113.0/120" is an IPv4-mapped IPv6 range', 'e.g. 203.0.113.0/24');
  expect(problems({ cluster: { nodeAddresses: ['::ffff:192.0.2.1'] } })).toEqual([expect.stringContaining('ignoreip "::ffff:192.0.2.1" is an IPv4-mapped IPv6 range')]);
});

describe('hostPathMounts', () => {
  test.each([
    [{ hostPath: '/var/log/../../etc', containerPath: '/mnt/x' }, "hostPath \"/var/log/../../etc\" is not an absolute path without '..'"],
    [{ hostPath: 'var/log/nginx', containerPath: '/mnt/x' }, 'hostPath "var/log/nginx" is not an absolute path'],
    [{ hostPath: '/var/log/nginx', containerPath: '/mnt/a b' }, 'containerPath is not an absolute path'],
    [{ hostPath: '/var/log/nginx', containerPath: '/data/filter.d' }, 'containerPath is where the host logs or the image'],
  ])('%j is refused', (mount, fragment) => {
    expectOneProblem({ hostPathMounts: [mount] }, `hostPathMounts "${mount.containerPath}"`, fragment);
  });
});

test('all problems of a run are reported together', () => {
  const found = problems({
    image: 'crazymax/fail2ban',
    timeZone: 'Nowhere/Land',
    jails: [
      { name: 'sshd', logPath: '/var/log/journal', backend: 'systemd', maxRetry: 0, findTime: '10 mins' },
      { name: 'sshd', logPath: '/var/log/host/auth.log' },
    ],
  });
  expect(found.length).toBeGreaterThanOrEqual(7);
  for (const fragment of ['image', 'timeZone', 'backend', 'maxretry', 'findtime', 'logpath', 'more than once']) {
    expect(found.some((p) => p.includes(fragment))).toBe(true);
  }
});

describe('a failed synth', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function treeHash(root: string): string {
    const hash = createHash('sha256');
    for (const name of fs.readdirSync(root).sort()) {
      const file = path.join(root, name);
      hash.update(name);
      hash.update(fs.statSync(file).isDirectory() ? treeHash(file) : fs.readFileSync(file));
    }
    return hash.digest('hex');
  }

  test('exits 1, lists every problem and leaves the output directory byte for byte as it was', () => {
    const out = path.join(dir, 'manifests');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'daemonset.yaml'), 'previous content\n');
    const before = treeHash(dir);
    const err: string[] = [];
    const code = runSynth(['--out', out], () => buildApp(fixture({ timeZone: 'Nowhere/Land', image: 'x' })), paths, { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(1);
    expect(err.join('\n')).toContain('nothing written');
    expect(err.join('\n')).toContain('timeZone "Nowhere/Land"');
    expect(err.join('\n')).toContain('image "x"');
    expect(treeHash(dir)).toBe(before);
  });
});
