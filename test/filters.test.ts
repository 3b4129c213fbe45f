import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeWithTools } from './fail2ban-tools';

// One set of checks per filter in filters/, as fail2ban's own samplestestcase does: adding filters/NAME.conf adds its
// tests, and fails them until test/logs/NAME (its annotated sample log) exists. README: "Adding a filter".
const FILTERS_DIR = path.join(__dirname, '..', 'filters');
const LOGS_DIR = path.join(__dirname, 'logs');
// The container links our filters next to the image's common.conf; Debian's package has the same file.
const COMMON_CONF = '/etc/fail2ban/filter.d/common.conf';
const FILTERS = fs
  .readdirSync(FILTERS_DIR)
  .filter((file) => file.endsWith('.conf'))
  .map((file) => file.slice(0, -'.conf'.length))
  .sort();
/** What every sample log must have. */
const SAMPLE_RULES = {
  minLines: 25,
  /** A filter is judged as much by what it leaves alone. */
  minShareNotMatching: 0.5,
  /** Each sample log forges this address into a client-controlled field (user agent, URI, user name) at least once. */
  forged: '203.0.113.9',
};
const sampleOf = (name: string) => path.join(LOGS_DIR, name);
const hasSample = (name: string) => fs.existsSync(sampleOf(name));

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
  return readSamples(sampleOf(name)).map(({ line }) => {
    const hosts = matched.get(line) ?? [];
    return { line, host: hosts.length > 0 ? hosts.join(' ') : null };
  });
}

function isDocumentationAddress(address: string): boolean {
  return /^(?:192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}$/.test(address) || /^2001:db8(?::|$)/i.test(address);
}

test('filters/ has filters to check', () => {
  expect(FILTERS.length).toBeGreaterThan(0);
});

describe.each(FILTERS)('filters/%s.conf', (name) => {
  const text = fs.readFileSync(path.join(FILTERS_DIR, `${name}.conf`), 'utf8');

  test('has a sample log', () => {
    if (!hasSample(name)) {
      throw new Error(
        `test/logs/${name} is missing: add it with at least ${SAMPLE_RULES.minLines} log lines as the daemon writes them, each preceded by ` +
          `'# failJSON: { "match": true, "host": "ADDRESS" }' or '# failJSON: { "match": false }', at least half of them lines ` +
          `that must not match, one with ${SAMPLE_RULES.forged} in a field the client chooses, and documentation addresses only (README: "Adding a filter")`,
      );
    }
  });

  test('is a filter.d file: header comment, common.conf included, every key set', () => {
    expect(text).toMatch(/^# Fail2Ban filter for /);
    expect(text).toMatch(/^\[INCLUDES\]\n+before = common\.conf$/m);
    expect(text).toMatch(/^\[Definition\]$/m);
    for (const key of ['failregex', 'ignoreregex', 'datepattern']) {
      expect(text).toMatch(new RegExp(`^${key} =`, 'm'));
    }
  });

  (hasSample(name) ? test : test.skip)('sample log: every log line annotated once, unique, with documentation addresses only', () => {
    const samples = readSamples(sampleOf(name));
    const lines = samples.map((s) => s.line);
    expect(new Set(lines).size).toBe(lines.length);
    expect(samples.length).toBeGreaterThanOrEqual(SAMPLE_RULES.minLines);
    expect(samples.filter((s) => s.host === null).length).toBeGreaterThanOrEqual(samples.length * SAMPLE_RULES.minShareNotMatching);
    for (const { host } of samples) if (host !== null) expect(isDocumentationAddress(host)).toBe(true);
    const ipv4 = lines.join('\n').match(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g) ?? [];
    expect(ipv4.filter((address) => !isDocumentationAddress(address))).toEqual([]);
  });
});

describeWithTools(['fail2ban-regex'], 'real fail2ban-regex on the sample logs', () => {
  const withSamples = FILTERS.filter(hasSample);
  let configDir: string;
  const results: Record<string, Sample[]> = {};

  beforeAll(() => {
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fail2ban-filters-'));
    fs.mkdirSync(path.join(configDir, 'filter.d'));
    fs.copyFileSync(COMMON_CONF, path.join(configDir, 'filter.d', 'common.conf'));
    for (const name of withSamples) {
      fs.copyFileSync(path.join(FILTERS_DIR, `${name}.conf`), path.join(configDir, 'filter.d', `${name}.conf`));
      results[name] = runFilter(configDir, name);
    }
  });

  afterAll(() => fs.rmSync(configDir, { recursive: true, force: true }));

  test.each(withSamples)('%s: every sample line yields exactly its annotated address, or nothing', (name) => {
    expect(results[name]).toEqual(readSamples(sampleOf(name)));
  });

  test.each(withSamples)('%s: never bans an address forged into a client-controlled field', (name) => {
    expect(readSamples(sampleOf(name)).some((s) => s.line.includes(SAMPLE_RULES.forged))).toBe(true);
    expect(results[name].map((s) => s.host)).not.toContain(SAMPLE_RULES.forged);
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
