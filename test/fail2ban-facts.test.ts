import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { parseFail2banDuration } from '../src/model/duration';
import { STOCK_ACTIONS, STOCK_FILTERS } from '../src/validate/stock';
import { describeWithTools } from './fail2ban-tools';

const CONFIG = '/etc/fail2ban';

/** The `*.conf` names of a directory of the installed fail2ban. */
function confNames(dir: string): string[] {
  return fs
    .readdirSync(`${CONFIG}/${dir}`)
    .filter((file) => file.endsWith('.conf'))
    .map((file) => file.slice(0, -'.conf'.length))
    .sort();
}

describeWithTools(['fail2ban-client'], 'facts taken from fail2ban 1.0.2, checked against the installed package', () => {
  test('the installed fail2ban is 1.0.2, the image\'s version', () => {
    expect(execFileSync('fail2ban-client', ['--version'], { encoding: 'utf8' })).toContain('1.0.2');
  });

  test('the stock filter list is the package\'s filter.d', () => {
    expect([...STOCK_FILTERS].sort()).toEqual(confNames('filter.d'));
  });

  test('the stock action list is the package\'s action.d', () => {
    expect([...STOCK_ACTIONS].sort()).toEqual(confNames('action.d'));
  });

  test.each(['600', '10m', '1h', '24h', '1d', '1w', '10 minutes', '1 day', '1d12h', '1h 30m', '1hour+30min', '1year-6mo', '10 mins', '10 secs', 'PT10M', '2 weeks', '-1'])(
    'duration "%s" is read exactly as fail2ban-client --str2sec reads it',
    (text) => {
      const real = spawnSync('fail2ban-client', ['--str2sec', text], { encoding: 'utf8' });
      const expected = real.status === 0 ? Number(real.stdout.trim()) : undefined;
      expect(parseFail2banDuration(text)).toBe(expected);
    },
  );
});
