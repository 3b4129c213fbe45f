import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readsPodLogs } from '../src/model/filter';
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
/** Files the filters include (`filters/*.inc`, e.g. cri.inc): shipped beside them in filter.d, no filters themselves. */
const INCLUDES = fs.readdirSync(FILTERS_DIR).filter((file) => file.endsWith('.inc'));
/** A pod-log filter includes cri.inc after common.conf, which reads the CRI prefix and time for it. */
const isPodLogFilter = (name: string) => readsPodLogs({ name, content: fs.readFileSync(path.join(FILTERS_DIR, `${name}.conf`), 'utf8') });
/** The time zone pod-log samples are read in: not UTC, so a CRI time read as local time would show. */
const POD_LOG_TZ = 'Europe/Berlin';
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
  // A pod-log filter buffers two lines (cri.inc), and fail2ban 1.0.2 then gives the line BEFORE a match as its <msg>:
  // its matches are told apart by their time instead (each line of its sample has a second of its own), read with a
  // TZ other than UTC, so that a CRI time read as local time would be attributed to no line.
  const podLog = isPodLogFilter(name);
  const out = execFileSync(
    'fail2ban-regex',
    ['--out', podLog ? '<ip>\t<time>' : '<ip>\t<msg>', '--config', configDir, path.join(LOGS_DIR, name), name],
    { encoding: 'utf8', env: podLog ? { ...process.env, TZ: POD_LOG_TZ } : process.env },
  );
  const keyOf = (line: string) => (podLog ? String(criSecond(line)) : line);
  const matched = new Map<string, string[]>();
  for (const row of out.split('\n').filter(Boolean)) {
    const [host, key] = row.split('\t');
    const at = podLog ? String(Number(key)) : key;
    matched.set(at, [...(matched.get(at) ?? []), host]);
  }
  const samples = readSamples(sampleOf(name));
  const attributed = new Set(samples.map(({ line }) => keyOf(line)));
  const stray = [...matched.keys()].filter((key) => !attributed.has(key));
  if (stray.length > 0) throw new Error(`${name}: fail2ban-regex reported matches that belong to no sample line: ${stray.join(', ')}`);
  return samples.map(({ line }) => {
    const hosts = matched.get(keyOf(line)) ?? [];
    return { line, host: hosts.length > 0 ? hosts.join(' ') : null };
  });
}

/** The second of a CRI line's timestamp (containerd's RFC 3339 time with its zone), or undefined for another line. */
function criSecond(line: string): number | undefined {
  const time = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d) /.exec(line);
  return time ? Date.parse(`${time[1]}${time[2]}`) / 1000 : undefined;
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
    expect(text).toMatch(/^\[INCLUDES\]\n+before = common\.conf(?:\n[ \t]+cri\.inc)?$/m);
    expect(text).toMatch(/^\[Definition\]$/m);
    // A pod-log filter takes prefregex, maxlines and datepattern from cri.inc, and keeps ignoreregex empty (cri.inc
    // says why); every other filter sets its own datepattern.
    const own = isPodLogFilter(name) ? ['failregex', 'ignoreregex'] : ['failregex', 'ignoreregex', 'datepattern'];
    for (const key of own) {
      expect(text).toMatch(new RegExp(`^${key} =`, 'm'));
    }
    if (isPodLogFilter(name)) {
      expect(text).toMatch(/^ignoreregex =$/m);
      for (const key of ['prefregex', 'maxlines', 'datepattern']) expect(text).not.toMatch(new RegExp(`^${key}\\s*=`, 'm'));
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
    if (isPodLogFilter(name)) {
      const seconds = lines.map(criSecond).filter((second) => second !== undefined);
      expect(new Set(seconds).size).toBe(seconds.length);
    }
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
    for (const file of INCLUDES) fs.copyFileSync(path.join(FILTERS_DIR, file), path.join(configDir, 'filter.d', file));
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

  const podLogFilters = withSamples.filter(isPodLogFilter);

  test.each(podLogFilters)('%s: a partial (P) line never matches, nor the tail after it', (name) => {
    const samples = readSamples(sampleOf(name));
    const tag = (line: string) => / (?:stdout|stderr) ([FP])(?: |$)/.exec(line)?.[1];
    const afterPartial = samples.filter((_, i) => i > 0 && tag(samples[i - 1].line) === 'P' && tag(samples[i].line) === 'F');
    expect(samples.some((s) => tag(s.line) === 'P')).toBe(true);
    expect(afterPartial.length).toBeGreaterThan(0);
    for (const { line, host } of results[name]) if (tag(line) === 'P') expect(host).toBeNull();
    for (const tail of afterPartial) expect(results[name].find((r) => r.line === tail.line)!.host).toBeNull();
  });

  test('traefik-auth-cri: bans the first field (ClientHost as Traefik wrote it), never an address after it', () => {
    const matched = results['traefik-auth-cri'].filter((s) => s.host !== null);
    expect(matched.length).toBeGreaterThan(0);
    for (const { line, host } of matched) expect(host).toBe(/ [FP] (\S+) - /.exec(line)![1]);
  });

  test('traefik-auth-json-cri: bans the TCP peer (ClientAddr), never ClientHost (X-Forwarded-For)', () => {
    const entries = results['traefik-auth-json-cri']
      .filter((s) => s.host !== null)
      .map(({ line, host }) => ({ host, entry: JSON.parse(line.slice(line.indexOf('{'))) }));
    const peer = (entry: { ClientAddr: string }) => entry.ClientAddr.replace(/^\[?(.*?)\]?:\d+$/, '$1');
    expect(entries.some(({ entry }) => entry.ClientHost !== undefined && entry.ClientHost !== peer(entry))).toBe(true);
    for (const { host, entry } of entries) {
      expect(host).toBe(peer(entry));
      expect(entry.DownstreamStatus).toBe(401);
    }
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
