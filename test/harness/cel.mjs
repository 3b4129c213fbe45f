// Evaluates CEL expressions with @marcbachmann/cel-js (ESM only, hence a separate process): reads one JSON array of
// cases per line on stdin, answers one JSON array of results per line on stdout.
// Kubernetes's CEL libraries are not part of it; the few functions the rules use are defined here from Node's own
// address handling: isIP(), ip.isCanonical() (written ipIsCanonical: cel-js has no namespaced functions) and the
// strings extension's replace(), which replaces every occurrence, and cidr(R).containsIP(A) (written cidrContainsIP).
import { BlockList, isIP } from 'node:net';
import { createInterface } from 'node:readline';
import { Environment } from '@marcbachmann/cel-js';

/** The canonical text of an address: WHATWG URL hosts are serialized as RFC 5952 (IPv6) and dotted decimal. */
function canonical(address) {
  try {
    const host = new URL(`http://${isIP(address) === 6 ? `[${address}]` : address}/`).hostname;
    return host.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/** JSON numbers that are whole become CEL ints, as in Kubernetes objects. */
function toCel(value) {
  if (Number.isInteger(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map(toCel);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toCel(v)]));
  return value;
}

const env = new Environment({ unlistedVariablesAreDyn: true })
  .registerFunction('string.replace(string, string): string', (text, from, to) => text.split(from).join(to))
  .registerFunction('isIP(string): bool', (text) => isIP(text) !== 0)
  .registerFunction('ipIsCanonical(string): bool', (text) => isIP(text) !== 0 && canonical(text) === text)
  .registerFunction('cidrContainsIP(string, string): bool', (range, text) => {
    const [address, prefix] = range.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (isIP(text) !== isIP(address)) return false;
    const list = new BlockList();
    list.addSubnet(address, Number(prefix), family);
    return list.check(text, family);
  });

function evaluate({ expression, context }) {
  try {
    const rewritten = expression.replaceAll('ip.isCanonical(', 'ipIsCanonical(').replace(/cidr\(([^()]+)\)\.containsIP\(/g, 'cidrContainsIP($1, ');
    return { value: env.evaluate(rewritten, toCel(context)) };
  } catch (error) {
    return { error: error.message.split('\n')[0] };
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const results = JSON.parse(line).map(evaluate);
  process.stdout.write(`${JSON.stringify(results, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}\n`);
});
