import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Duration } from 'cdk8s';
import { describeWithTools } from './fail2ban-tools';
import { Fail2banLab, sshdFailedPassword, synthesize, syslogTime } from './harness/lab';
import { waitFor } from './harness/wait';
import { FIXTURE, FIXTURE_SSHD, FIXTURE_TRAEFIK, withJail } from './fixture';

const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare', 'setpriv'];

/** The table's rules and set elements without handles, sorted, so two listings compare by content. */
function rules(lab: Fail2banLab): string[] {
  return lab
    .nft('list', 'table', 'inet', 'f2b-table')
    .split('\n')
    .map((line) => line.replace(/\s+# handle \d+/, '').trim())
    .filter(Boolean)
    .sort();
}

/** The handles of the rules that match a ban set: a start that re-creates a rule gives it a new handle. */
function ruleHandles(lab: Fail2banLab): string[] {
  return lab
    .nft('-a', 'list', 'table', 'inet', 'f2b-table')
    .split('\n')
    .filter((line) => line.includes('saddr @'))
    .map((line) => /# handle (\d+)/.exec(line)![1]);
}

/** Enough sshd failures for a ban. */
const BAN = FIXTURE_SSHD.maxRetry!;

function sshdFailures(address: string, count: number, firstPid: number): string[] {
  return Array.from({ length: count }, (_, i) => sshdFailedPassword(syslogTime('UTC'), 'node', firstPid + i, address, 50000 + i));
}

describeWithTools(TOOLS, "restart-safe firewall state, with fail2ban's stock nftables action", () => {
  // The package's own action is restart-safe by itself (batch-action.test.ts); this is the stock one with the
  // package's nftables-common.local.
  const config = synthesize({ defaults: { ...FIXTURE.defaults, banAction: 'nftables-multiport' } });
  const reset = config.daemonSet.spec.template.spec.initContainers.find((c: any) => c.name === 'reset-firewall');
  let lab: Fail2banLab;

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-restart', config });
  });
  afterAll(() => lab?.destroy());

  test('the DaemonSet resets the firewall in an init container before fail2ban starts', () => {
    expect(reset.command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(reset.image).toBe(config.daemonSet.spec.template.spec.containers[0].image);
  });

  test('after kill -9 and the init container, the rules are as before the kill and the bans are back', async () => {
    lab.client('set', 'sshd', 'banip', '192.0.2.30');
    lab.client('set', 'sshd', 'banip', '2001:db8::30');
    lab.client('set', 'k3s-apiserver', 'banip', '198.51.100.30');
    const before = rules(lab);
    expect(before.join('\n')).toContain('192.0.2.30');
    await waitFor('the bans in the database', () => lab.persisted('sshd').length === 2 && lab.persisted('k3s-apiserver').length === 1);

    await lab.killServer();
    expect(rules(lab)).toEqual(before);
    lab.runInNamespace(reset.command[2]);
    expect(lab.nft('list', 'tables')).not.toContain('f2b-table');
    await lab.startServer();
    await waitFor('the bans to be restored into nftables', () => {
      try {
        return rules(lab).join('\n').includes('198.51.100.30') && rules(lab).join('\n').includes('2001:db8::30');
      } catch {
        return false;
      }
    });
    expect(rules(lab)).toEqual(before);
  });

  test('without the reset (a container restart: init containers do not run again), kill -9 and a start add no rule twice', async () => {
    const ruleLines = () => rules(lab).filter((line) => line.includes('saddr @'));
    const once = ruleLines();
    expect(once.length).toBeGreaterThan(0);
    const bans: Array<[string, string]> = [['sshd', '192.0.2.30'], ['sshd', '2001:db8::30'], ['k3s-apiserver', '198.51.100.30']];
    const restored = () => bans.map(([jail, ip]) => lab.logged(jail, 'Restore Ban', ip));
    for (let restart = 1; restart <= 2; restart++) {
      const before = restored();
      const handles = ruleHandles(lab);
      await lab.killServer();
      await lab.startServer();
      // Each start adds its jail's rules anew (new handles): once there are as many new ones as before, every start ran.
      await waitFor('every action to start again', () => restored().every((count, i) => count > before[i]) && ruleHandles(lab).filter((handle) => !handles.includes(handle)).length >= handles.length);
      expect(ruleLines()).toEqual(once);
    }
  });
});

describeWithTools(TOOLS, "least-privilege mode ('net-admin', the default)", () => {
  const config = synthesize();
  const spec = config.daemonSet.spec.template.spec;
  const capabilities: string[] = spec.containers[0].securityContext.capabilities.add.map((c: string) => c.toLowerCase());
  let lab: Fail2banLab;

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-leastpriv', config, capabilities });
  });
  afterAll(() => lab?.destroy());

  test('renders NET_ADMIN only, no privileged, no host PID, RuntimeDefault seccomp', () => {
    const firewall = [...spec.initContainers, ...spec.containers].filter((c: any) => ['reset-firewall', 'fail2ban'].includes(c.name));
    expect(firewall).toHaveLength(2);
    for (const container of firewall) {
      expect(container.securityContext).toMatchObject({
        privileged: false,
        allowPrivilegeEscalation: false,
        capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
    }
    expect(spec.hostPID).toBeUndefined();
    expect(spec.hostNetwork).toBe(true);
  });

  test('fail2ban-server holds only those capabilities', () => {
    const status = fs.readFileSync(`/proc/${lab.pid}/status`, 'utf8');
    const effective = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(status)![1]}`);
    // CAP_NET_ADMIN is bit 12.
    expect(effective).toBe(1n << 12n);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
  });

  test('still bans into nftables from its logs', async () => {
    lab.appendLog('/var/log/host/auth.log', sshdFailures('203.0.113.50', BAN, 7000));
    await waitFor('the ban in nftables', () => {
      try {
        return lab.nft('list', 'ruleset').includes('203.0.113.50');
      } catch {
        return false;
      }
    });
  });

  test('after kill -9, the reset init container and a start, with NET_ADMIN alone, the bans are back and no rule twice', async () => {
    const reset = spec.initContainers.find((c: any) => c.name === 'reset-firewall');
    lab.client('set', 'sshd', 'banip', '2001:db8::50');
    // The batching action hands a ban to nftables a moment after fail2ban took it.
    await waitFor('the ban in nftables', () => lab.nftSet('sshd').v6.includes('2001:db8::50'));
    const before = rules(lab);
    expect(before.join('\n')).toContain('203.0.113.50');
    const addresses = ['203.0.113.50', '2001:db8::50'];
    await waitFor('both bans in the database', () => addresses.every((ip) => lab.persisted('sshd').includes(ip)));
    await lab.killServer();
    lab.runInNamespace(`setpriv --no-new-privs --bounding-set=-all,+net_admin --inh-caps=-all --ambient-caps=-all sh -c '${reset.command[2]}'`);
    expect(lab.nft('list', 'tables')).not.toContain('f2b-table');
    await lab.startServer();
    // Back from the database ("Restore Ban"), or banned again from the log if fail2ban had not yet saved how far it
    // had read it: either way, every ban is in nftables again, and every rule once.
    await waitFor('every ban back in nftables', () => {
      try {
        const listed = rules(lab).join('\n');
        return addresses.every((ip) => listed.includes(ip));
      } catch {
        return false; // the table comes with the first ban
      }
    }).catch((error) => {
      throw new Error(`${error.message}\n--- fail2ban's log:\n${lab.serverLog().slice(-4000)}`);
    });
    expect(rules(lab)).toEqual(before);
  });
});

describeWithTools(TOOLS, 'repeat offenders (bantime.increment)', () => {
  // Short bans, so that the first one ends by itself: an unban by hand would also delete the ban's history.
  const config = synthesize(withJail('sshd', { banTime: Duration.seconds(2), banTimeIncrement: { factor: 2, maxTime: Duration.days(7) } }));
  let lab: Fail2banLab;

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-increment', config });
  });
  afterAll(() => lab?.destroy());

  /** The ban time fail2ban gave an address, from `get JAIL banip --with-time` ("IP \t start + bantime = end"). */
  function banTimeOf(address: string): number {
    const line = lab.client('get', 'sshd', 'banip', '--with-time').split('\n').find((l) => l.startsWith(address));
    return Number(/\+ (\d+) =/.exec(line ?? '')?.[1]);
  }

  test('renders the increment into jail.local', () => {
    expect(config.files['jail.local']).toMatch(/\[sshd\][^[]*bantime = 2s\n.*\nbantime\.increment = true\nbantime\.factor = 2\nbantime\.maxtime = 168h/);
  });

  test('a second ban of the same address lasts longer than the first', async () => {
    const address = '198.51.100.60';
    lab.appendLog('/var/log/host/auth.log', sshdFailures(address, BAN, 8000));
    await waitFor('the first ban', () => lab.logged('sshd', 'Ban', address) === 1);
    const first = banTimeOf(address);
    await waitFor('the first ban to end', () => lab.logged('sshd', 'Unban', address) === 1);
    expect(lab.banned('sshd')).not.toContain(address);
    lab.appendLog('/var/log/host/auth.log', sshdFailures(address, BAN, 8100));
    await waitFor('the second ban', () => lab.logged('sshd', 'Ban', address) === 2);
    const second = banTimeOf(address);
    expect(first).toBeGreaterThanOrEqual(2);
    expect(second).toBeGreaterThan(first);
  });
});

describeWithTools([...TOOLS, 'python3'], "bans that cover forwarded traffic ('host-and-forwarded')", () => {
  // client (192.0.2.10 and .20) ── node: the lab, forwarding 192.0.2.1:8080 to the pod ── pod (198.51.100.2:80)
  // web: a host log; traefik-auth: Traefik's pod log (its files come from the agent, its bans are what matters here).
  const jails = [
    ...FIXTURE.jails,
    { name: 'web', filter: 'nginx-http-auth', logPath: '/var/log/host/nginx/error.log', port: '8080', blocks: 'host-and-forwarded' as const },
    { ...FIXTURE_TRAEFIK, port: '8080' },
  ];
  const config = synthesize({ jails });
  const ns = { client: 'f2b-fwd-client', pod: 'f2b-fwd-pod' };
  const sh = (netns: string, script: string) => execFileSync('ip', ['netns', 'exec', netns, 'sh', '-c', script], { encoding: 'utf8' });
  let lab: Fail2banLab;
  let server: ReturnType<typeof spawn> | undefined;

  function connects(source: string): boolean {
    const probe = `import socket,sys
s=socket.socket(); s.settimeout(3); s.bind(('${source}',0))
try: s.connect(('192.0.2.1',8080)); print(s.recv(64).decode())
except Exception as e: print('failed', e)`;
    const out = spawnSync('ip', ['netns', 'exec', ns.client, 'python3', '-c', probe], { encoding: 'utf8' }).stdout;
    return out.includes('hello from the pod');
  }

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-fwd-node', config });
    for (const name of Object.values(ns)) {
      execFileSync('ip', ['netns', 'add', name]);
    }
    execFileSync('ip', ['link', 'add', 'f2b-c0', 'netns', ns.client, 'type', 'veth', 'peer', 'name', 'f2b-n0', 'netns', lab.netns]);
    execFileSync('ip', ['link', 'add', 'f2b-p0', 'netns', ns.pod, 'type', 'veth', 'peer', 'name', 'f2b-n1', 'netns', lab.netns]);
    sh(ns.client, 'ip addr add 192.0.2.10/24 dev f2b-c0 && ip addr add 192.0.2.20/24 dev f2b-c0 && ip link set f2b-c0 up && ip link set lo up');
    sh(ns.pod, 'ip addr add 198.51.100.2/24 dev f2b-p0 && ip link set f2b-p0 up && ip link set lo up && ip route add default via 198.51.100.1');
    lab.runInNamespace(
      [
        'ip addr add 192.0.2.1/24 dev f2b-n0 && ip link set f2b-n0 up',
        'ip addr add 198.51.100.1/24 dev f2b-n1 && ip link set f2b-n1 up',
        'sysctl -qw net.ipv4.ip_forward=1',
        // What kube-proxy does for a NodePort / LoadBalancer service.
        "nft add table ip kube && nft add chain ip kube services '{ type nat hook prerouting priority -100; }'",
        'nft add rule ip kube services tcp dport 8080 dnat to 198.51.100.2:80',
      ].join(' && '),
    );
    const pod = `import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('198.51.100.2',80)); s.listen(8)
while True:
  c,_=s.accept(); c.sendall(b'hello from the pod'); c.close()`;
    server = spawn('ip', ['netns', 'exec', ns.pod, 'python3', '-c', pod], { stdio: 'ignore' });
    await waitFor('the pod to listen', () => connects('192.0.2.20'));
  });

  afterAll(() => {
    server?.kill('SIGKILL');
    lab?.destroy();
    for (const name of Object.values(ns)) {
      spawnSync('ip', ['netns', 'del', name]);
    }
  });

  test('renders the action into the prerouting hook with drop', () => {
    expect(config.files['jail.local']).toContain('chain_hook="prerouting", chain_priority="-150", blocktype="drop"');
  });

  test.each(['web', FIXTURE_TRAEFIK.name])('%s: before the ban the forwarded connection succeeds; after it the banned address is dropped and others pass', async (jail) => {
    expect(connects('192.0.2.10')).toBe(true);
    lab.client('set', jail, 'banip', '192.0.2.10');
    await waitFor('the ban in the prerouting chain', () => lab.nft('list', 'ruleset').includes('hook prerouting') && lab.nftSet(jail).v4.includes('192.0.2.10'));
    expect(connects('192.0.2.10')).toBe(false);
    expect(connects('192.0.2.20')).toBe(true);
    lab.client('set', jail, 'unbanip', '192.0.2.10');
    await waitFor('the unban in nftables', () => !lab.nftSet(jail).v4.includes('192.0.2.10'));
    expect(connects('192.0.2.10')).toBe(true);
  });

  test("a host-only jail's ban does not reach forwarded traffic (why the choice exists)", async () => {
    lab.client('set', 'sshd', 'banip', '192.0.2.10');
    await waitFor('the ban in nftables', () => lab.nftSet('sshd').v4.includes('192.0.2.10'));
    expect(connects('192.0.2.10')).toBe(true);
    lab.client('set', 'sshd', 'unbanip', '192.0.2.10');
  });
});
