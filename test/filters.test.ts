import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeWithTools } from './fail2ban-tools';

const FILTERS_DIR = path.join(__dirname, '..', 'filters');
const LOGS_DIR = path.join(__dirname, 'logs');
// The container links our filters next to the image's common.conf; Debian's package has the same file.
const COMMON_CONF = '/etc/fail2ban/filter.d/common.conf';
const FILTERS = ['k3s-apiserver', 'k3s-apiserver-audit'];
// The sample logs forge this address into client-controlled fields (user agent, URI, audit ID).
const FORGED = '203.0.113.9';

/** A log line with the address it must yield, or `null` when it must not match. */
interface Sample {
  line: string;
  host: string | null;
}

/** The log lines of a sample file with their `# failJSON: {...}` annotations. */
function readSamples(file: string): Sample[] {
  const samples: Sample[] = [];
  let expected: { match: boolean; host?: string } | undefined;
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      const annotation = /^# failJSON: (.*)$/.exec(line);
      if (annotation) {
        expected = JSON.parse(annotation[1]);
      } else if (line !== '' && !line.startsWith('#')) {
        if (!expected || (expected.match && !expected.host)) {
          throw new Error(`${file}:${index + 1}: log line without a failJSON annotation (with a host if it matches)`);
        }
        samples.push({ line, host: expected.match ? expected.host! : null });
        expected = undefined;
      }
    });
  return samples;
}

/**
 * Runs the real fail2ban-regex once over a whole sample file, with the filter installed as the container
 * has it (filter.d/NAME.conf beside common.conf), and returns every log line with the address it yielded.
 * A filter file given by path would read its includes from its own folder, and a missing common.conf
 * only leaves the <tags> unreplaced: nothing would match, silently.
 */
function runFilter(configDir: string, name: string): Sample[] {
  const out = execFileSync(
    'fail2ban-regex',
    ['--out', '<ip>\t<msg>', '--config', configDir, path.join(LOGS_DIR, name), name],
    { encoding: 'utf8' },
  );
  const matched = new Map<string, string[]>();
  for (const row of out.split('\n').filter(Boolean)) {
    const [host, line] = row.split('\t');
    matched.set(line, [...(matched.get(line) ?? []), host]);
  }
  return readSamples(path.join(LOGS_DIR, name)).map(({ line }) => {
    const hosts = matched.get(line) ?? [];
    return { line, host: hosts.length > 0 ? hosts.join(' ') : null };
  });
}

function isDocumentationAddress(address: string): boolean {
  return /^(?:192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}$/.test(address) || /^2001:db8(?::|$)/i.test(address);
}

describe.each(FILTERS)('filters/%s.conf', (name) => {
  const text = fs.readFileSync(path.join(FILTERS_DIR, `${name}.conf`), 'utf8');

  test('is a filter.d file: header comment, common.conf included, every key set', () => {
    expect(text).toMatch(/^# Fail2Ban filter for /);
    expect(text).toMatch(/^\[INCLUDES\]\n+before = common\.conf$/m);
    expect(text).toMatch(/^\[Definition\]$/m);
    for (const key of ['failregex', 'ignoreregex', 'datepattern']) {
      expect(text).toMatch(new RegExp(`^${key} =`, 'm'));
    }
  });

  test('sample log: every log line annotated once, unique, with documentation addresses only', () => {
    const samples = readSamples(path.join(LOGS_DIR, name));
    const lines = samples.map((s) => s.line);
    expect(new Set(lines).size).toBe(lines.length);
    expect(samples.length).toBeGreaterThanOrEqual(25);
    expect(samples.filter((s) => s.host === null).length).toBeGreaterThanOrEqual(samples.length / 2);
    for (const { host } of samples) if (host !== null) expect(isDocumentationAddress(host)).toBe(true);
    const ipv4 = lines.join('\n').match(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g) ?? [];
    expect(ipv4.filter((address) => !isDocumentationAddress(address))).toEqual([]);
  });
});

describeWithTools(['fail2ban-regex'], 'real fail2ban-regex on the sample logs', () => {
  let configDir: string;
  const results: Record<string, Sample[]> = {};

  beforeAll(() => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fail2ban-filters-'));
    fs.mkdirSync(path.join(configDir, 'filter.d'));
    fs.copyFileSync(COMMON_CONF, path.join(configDir, 'filter.d', 'common.conf'));
    for (const name of FILTERS) {
      fs.copyFileSync(path.join(FILTERS_DIR, `${name}.conf`), path.join(configDir, 'filter.d', `${name}.conf`));
      results[name] = runFilter(configDir, name);
    }
  });

  afterAll(() => fs.rmSync(configDir, { recursive: true, force: true }));

  test.each(FILTERS)('%s: every sample line yields exactly its annotated address, or nothing', (name) => {
    expect(results[name]).toEqual(readSamples(path.join(LOGS_DIR, name)));
  });

  test.each(FILTERS)('%s: never bans an address forged into a client-controlled field', (name) => {
    expect(readSamples(path.join(LOGS_DIR, name)).some((s) => s.line.includes(FORGED))).toBe(true);
    expect(results[name].map((s) => s.host)).not.toContain(FORGED);
  });

  test('k3s-apiserver: counts a bad credential once, by its "Failed to authenticate" line, not the 401 after it', () => {
    const samples = results['k3s-apiserver'];
    const sent401 = samples.filter((s) => /msg="Sending HTTP\S* 401 response to /.test(s.line));
    expect(sent401.length).toBeGreaterThan(0);
    for (const { line, host } of sent401) {
      expect(host).toBeNull();
      const peer = /401 response to (\S+):/.exec(line)![1];
      const counted = samples.filter((s) => s.host && s.line.includes(`Failed to authenticate request from ${peer}:`));
      expect(counted).toHaveLength(1);
    }
  });

  test('k3s-apiserver-audit: bans the TCP peer (last of sourceIPs), never an X-Forwarded-For address', () => {
    const matched = results['k3s-apiserver-audit'].filter((s) => s.host !== null);
    expect(matched.some((s) => JSON.parse(s.line).sourceIPs.length > 1)).toBe(true);
    for (const { line, host } of matched) expect(host).toBe(JSON.parse(line).sourceIPs.at(-1));
  });
});
