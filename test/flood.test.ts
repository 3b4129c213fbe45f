import * as fs from 'node:fs';
import * as path from 'node:path';
import { floodAddresses, floodChunks } from '../bench/flood';
import { Fail2banLab, synthesize } from './harness/lab';
import { HANG_MS, waitFor } from './harness/wait';
import { describeWithTools } from './fail2ban-tools';

// A small log flood (bench/flood.ts is the full one: 100 000 lines from 10 000 addresses): 5 000 sshd failures from
// 250 documentation addresses, 20 each, appended at once. The bans, one `nft add element` process each, are what
// costs CPU: 20 lines per address keep the flood's size with half the bans of 10 per address.
const ADDRESSES = 250;
const LINES_PER_ADDRESS = 20;
/** A hang detector: the 250 bans take a few seconds (bench:flood measures the full flood). */
const BAN_HANG_MS = 2 * HANG_MS;

describeWithTools(['fail2ban-server', 'fail2ban-client', 'nft', 'ip', 'unshare'], 'fail2ban under a log flood', () => {
  const config = synthesize();
  const addresses = floodAddresses(ADDRESSES);
  let lab: Fail2banLab;

  beforeAll(async () => {
    lab = await Fail2banLab.start({ name: 'f2b-flood-test', config });
  });

  afterAll(() => {
    lab?.destroy();
  });

  test(`bans every one of ${ADDRESSES} addresses after ${ADDRESSES * LINES_PER_ADDRESS} failures appended at once, and keeps answering`, async () => {
    expect(addresses.filter((a) => a.includes(':')).length).toBeGreaterThan(0);
    expect(addresses.filter((a) => !a.includes(':')).length).toBeGreaterThan(0);
    const authLog = path.join(lab.logDir, 'auth.log');
    for (const chunk of floodChunks(addresses, LINES_PER_ADDRESS, 2_500, config.env.TZ ?? 'UTC')) {
      fs.appendFileSync(authLog, chunk);
    }

    // Polled every 250 ms (waitFor's 25 ms, two nft processes each, would take a core from fail2ban on 2 cores).
    const deadline = Date.now() + BAN_HANG_MS;
    for (let sets = lab.nftSet('sshd'); sets.v4.length + sets.v6.length < ADDRESSES; sets = lab.nftSet('sshd')) {
      if (Date.now() > deadline) {
        throw new Error(`still waiting after ${BAN_HANG_MS / 1000} s (a hang detector): only ${sets.v4.length + sets.v6.length} of ${ADDRESSES} addresses are in nftables:\n${lab.serverLog().slice(-5000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const sets = lab.nftSet('sshd');
    expect(sets.v4.sort()).toEqual(addresses.filter((a) => !a.includes(':')).sort());
    expect(sets.v6.sort()).toEqual(addresses.filter((a) => a.includes(':')).sort());
    expect(lab.banned('sshd').sort()).toEqual([...addresses].sort());
    await waitFor('every failure counted', () => lab.totalFailed('sshd') >= ADDRESSES * LINES_PER_ADDRESS);
    expect(lab.totalFailed('sshd')).toBe(ADDRESSES * LINES_PER_ADDRESS);
    expect(lab.client('ping')).toContain('pong');
    expect(lab.serverLog().split('\n').filter((l) => /\b(ERROR|CRITICAL)\b|Traceback/.test(l))).toEqual([]);
  });
}, { root: true });
