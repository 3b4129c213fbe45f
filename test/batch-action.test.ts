import { describeWithTools } from './fail2ban-tools';
import { FIXTURE } from './fixture';
import { Fail2banLab, synthesize } from './harness/lab';
import { waitFor } from './harness/wait';
import { parseIni } from './helpers';

// The package's batching nftables action (actions/nftables-batch.py) in a real fail2ban-server, in a network
// namespace of its own: the stock layout, whole batches in one transaction, a bad element that does not drop the rest,
// restarts. How fast it is: the benchmarks.

const TOOLS = ['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'];

/** `count` addresses of the benchmarking range 198.18.0.0/15 and `count / 4` of 2001:db8::/32, from `offset`. */
function addresses(count: number, offset = 0): string[] {
  const v4 = Array.from({ length: count }, (_, i) => `198.18.${Math.floor((offset + i) / 250)}.${((offset + i) % 250) + 1}`);
  const v6 = Array.from({ length: Math.floor(count / 4) }, (_, i) => `2001:db8::${(offset + i + 1).toString(16)}`);
  return [...v4, ...v6];
}

const sorted = (list: string[]) => [...list].sort();

describeWithTools(TOOLS, 'the batching nftables action in a real fail2ban-server', () => {
  const config = synthesize({ defaults: { ...FIXTURE.defaults, banAction: 'nftables-batch' } });
  let lab: Fail2banLab;
  const nftAll = (jail: string) => Object.values(lab.nftSet(jail)).flat();
  /** fail2ban's list and the nftables sets agree, and hold exactly `expected`. */
  const agree = (jail: string, expected: string[]) => {
    expect(sorted(lab.banned(jail))).toEqual(sorted(expected));
    expect(sorted(nftAll(jail))).toEqual(sorted(expected));
  };
  const ruleLines = () =>
    lab
      .nft('list', 'table', 'inet', 'f2b-table')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.includes('saddr @'))
      .sort();

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-batch', config });
  });
  afterAll(() => lab?.destroy());

  test('jail.local names the Python action by its file, and the ConfigMap ships it', () => {
    expect(parseIni(config.files['jail.local']).DEFAULT.banaction).toBe('nftables-batch.py');
    expect(config.files['nftables-batch.py']).toContain('class NftablesBatch(ActionBase)');
  });

  test("a few hundred addresses of both families at once: all in nftables, equal to fail2ban's list", async () => {
    const batch = addresses(300);
    lab.client('set', 'sshd', 'banip', ...batch);
    await waitFor('every address in nftables', () => nftAll('sshd').length >= batch.length);
    agree('sshd', batch);
    // The stock layout: one rule per family matching the jail's port, in the input hook's chain.
    expect(ruleLines().filter((line) => line.includes('-sshd '))).toEqual([
      'tcp dport 22 ip saddr @addr-set-sshd reject with icmp port-unreachable',
      'tcp dport 22 ip6 saddr @addr6-set-sshd reject with icmpv6 port-unreachable',
    ]);
  });

  test('unbans half of them in one batch', async () => {
    const before = lab.banned('sshd');
    const gone = before.filter((_, i) => i % 2 === 0);
    lab.client('set', 'sshd', 'unbanip', ...gone);
    await waitFor('the unbanned addresses to leave nftables', () => nftAll('sshd').length <= before.length - gone.length);
    agree('sshd', before.filter((ip) => !gone.includes(ip)));
  });

  test('an element nftables refuses is logged and unbanned in fail2ban too; the rest of its batch is banned', async () => {
    const before = lab.banned('sshd');
    const good = addresses(40, 2000);
    // fail2ban 1.0.2 bans whatever `set banip` is given; a range is no element of these sets.
    lab.client('set', 'sshd', 'banip', ...good.slice(0, 20), '203.0.113.0/24', ...good.slice(20));
    await waitFor('the refused range to be logged and unbanned', () => lab.serverLog().includes('nftables refused to add 203.0.113.0/24') && !lab.banned('sshd').includes('203.0.113.0/24'));
    await waitFor('the good addresses in nftables', () => good.every((ip) => nftAll('sshd').includes(ip)));
    agree('sshd', [...before, ...good]);
  });

  test('after kill -9 and a start without any reset, every ban is back and no rule is there twice', async () => {
    const bans = lab.banned('sshd');
    const rules = ruleLines();
    await waitFor('the bans in the database', () => lab.persisted('sshd').length === bans.length);
    await lab.killServer();
    // A container restart: no init container empties the table first.
    await lab.startServer();
    await waitFor('the bans to be restored', () => lab.banned('sshd').length === bans.length);
    await waitFor('the restored bans in nftables', () => nftAll('sshd').length === bans.length);
    agree('sshd', bans);
    expect(ruleLines()).toEqual(rules);
  });

  test('unban --all empties the sets; a clean stop removes the table', async () => {
    lab.client('unban', '--all');
    agree('sshd', []);
    await lab.stopServer();
    expect(lab.nft('list', 'tables')).not.toContain('f2b-table');
    await lab.startServer();
  });
});

describeWithTools(TOOLS, 'the batching nftables action, forwarded scope', () => {
  const jails = FIXTURE.jails.map((jail) => (jail.name === 'sshd' ? { ...jail, blocks: 'host-and-forwarded' as const } : jail));
  const config = synthesize({ defaults: { ...FIXTURE.defaults, banAction: 'nftables-batch' }, jails });
  let lab: Fail2banLab;
  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-batchfw', config });
  });
  afterAll(() => lab?.destroy());

  test('drops in a chain of the prerouting hook, before DNAT', async () => {
    lab.client('set', 'sshd', 'banip', '192.0.2.77');
    await waitFor('the ban in nftables', () => lab.nftSet('sshd').v4.includes('192.0.2.77'));
    const chain = lab.nft('list', 'chain', 'inet', 'f2b-table', 'f2b-prerouting');
    // nftables names priority -150 `mangle`.
    expect(chain).toMatch(/type filter hook prerouting priority (mangle|-150);/);
    expect(chain).toContain('tcp dport 22 ip saddr @addr-set-sshd drop');
  });
});
