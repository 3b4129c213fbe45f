import { parseIni } from '../model/ini';
import { FilterFile, filterFileName } from '../model/filter';

/** fail2ban's tags that capture the address (or failure id) to ban. */
const HOST_TAG = /<(?:HOST|ADDR|IP4|IP6|SUBNET|DNS|F-(?:ID|IP4|IP6|ADDR|SUBNET|DNS)\/?)>/;

/** Replaces `%(name)s` with the file's own definitions; names from included files (common.conf) become empty. */
function interpolate(value: string, definitions: ReadonlyMap<string, string>, depth = 0): string {
  return value.replace(/%\(([^)]+)\)s/g, (_, name: string) => {
    const definition = definitions.get(name);
    return definition === undefined || depth > 10 ? '' : interpolate(definition, definitions, depth + 1);
  });
}

/**
 * The structural error of a Python regular expression that JavaScript reports the same way (unbalanced groups or
 * classes, a quantifier with nothing to repeat), or `undefined`. Python-only syntax is translated first; anything
 * else is left to the real fail2ban in the tests.
 */
function regexError(pattern: string): string | undefined {
  const javascript = pattern
    .replace(/<\/?F-[A-Z0-9]+\/?>/g, '')
    .replace(/<[A-Z0-9]+>/g, '(?:\\S+)')
    .replace(/\(\?P</g, '(?<')
    .replace(/\(\?P=(\w+)\)/g, '\\k<$1>')
    .replace(/\(\?[aiLmsux]+\)/g, '')
    .replace(/\(\?[aiLmsux-]+:/g, '(?:');
  try {
    new RegExp(javascript);
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    return /Unterminated|Unmatched|Nothing to repeat|Lone quantifier/.test(message) ? message.replace(/^.*: /, '') : undefined;
  }
}

/** Problems of one filter file: the sections fail2ban needs, a host tag in every failregex, regexes that compile. */
export function checkFilterFile(filter: FilterFile): string[] {
  const where = `filter file filters/${filterFileName(filter)}`;
  const sections = new Map(parseIni(filter.content).map((section) => [section.name, section.settings]));
  const definition = sections.get('Definition');
  if (!definition) {
    return [`${where}: has no [Definition] section. Fix: add "[Definition]" with a failregex, as in fail2ban's filter.d files.`];
  }
  const definitions = new Map([...(sections.get('DEFAULT') ?? []), ...(sections.get('Init') ?? []), ...definition]);
  const failregex = definition.get('failregex');
  if (!failregex?.trim()) {
    return [`${where}: [Definition] has no failregex. Fix: add "failregex = ..." with a <HOST> or <ADDR> tag for the address to ban.`];
  }
  const problems: string[] = [];
  for (const line of failregex.split('\n').filter((l) => l.trim())) {
    const regex = interpolate(line, definitions);
    if (!HOST_TAG.test(regex)) {
      problems.push(`${where}: failregex line "${line}" has no host tag, so fail2ban cannot tell whom to ban. Fix: capture the address with <ADDR> (or <HOST>, <IP4>, <IP6>, <F-ID>…</F-ID>).`);
    }
    const error = regexError(regex);
    if (error) {
      problems.push(`${where}: failregex line "${line}" is not a valid regular expression (${error}). Fix: balance its parentheses and brackets.`);
    }
  }
  const datepattern = definition.get('datepattern');
  const dateError = datepattern && regexError(interpolate(datepattern, definitions).replace(/\{[^}]*\}/g, '').replace(/%%?\w/g, ''));
  if (dateError) {
    problems.push(`${where}: datepattern "${datepattern}" is not a valid regular expression (${dateError}). Fix: balance its parentheses and brackets.`);
  }
  return problems;
}
