"""The ledger's Ban record: its name (the contract in ban_record.json, which the TypeScript and the CRD's CEL rules
read too), its parsing and checks, and its times. Pure functions; no I/O but reading the contract once."""

import calendar
import collections
import ipaddress
import json
import os
import re
import time

FUTURE_SLACK = 60  # seconds a record's bannedAt may be ahead of this node's clock
NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
TIME_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'ban_record.json'), encoding='utf-8') as contract:
    CONTRACT = json.load(contract)
# Addresses no ban may ever hold, first match named (never_ban.json: the ban CLI and the CRD's rule read it too).
with open(os.path.join(HERE, 'never_ban.json'), encoding='utf-8') as policy:
    ALWAYS_NEVER_BAN = [(ipaddress.ip_network(entry['range']), entry['what']) for entry in json.load(policy)['ranges']]


class Ban(collections.namedtuple('Ban', 'name ip jail node banned_at ban_time uid rv')):
    """A record's spec, checked for shape: ip canonical, bannedAt whole seconds UTC, banTime an integer ≥ -1."""

    @property
    def end(self):
        """When it ends (epoch seconds), None if permanent."""
        return None if self.ban_time < 0 else self.banned_at + self.ban_time


class SharedJail(collections.namedtuple('SharedJail', 'mirror max_ban_time')):
    """An origin jail's mirror and the longest ban applied here (-1: no cap)."""


def canonical_ip(text):
    """The address if `text` is exactly one address in canonical form (no range, no zone, no leading zeros)."""
    if not isinstance(text, str):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if str(address) != text or getattr(address, 'scope_id', None):
        return None
    return address


def address_name(jail, address):
    """The contract's name for `address` as written in `jail`, `sshd.v4-192-0-2-10`: an OperatorBan's name, and a
    record's before its origin node."""
    rule = CONTRACT['name']
    suffix = address + rule['closing'] if address.endswith(tuple(rule['addressSeparators'])) else address
    for separator in rule['addressSeparators']:
        suffix = suffix.replace(separator, rule['replacement'])
    family = rule['familyPrefix']['6' if ':' in address else '4']
    return f"{jail}{rule['jailSeparator']}{family}{suffix}"


def spelled_name(jail, address, node):
    """The contract's name for `address` as written, banned by `node`: `sshd.v4-192-0-2-10.k3s-agent-1`."""
    return f"{address_name(jail, address)}{CONTRACT['name']['originSeparator']}{node}"


def record_name(jail, ip, node):
    """The name of `node`'s record of `ip` (made canonical) in `jail`; ValueError if that is no valid object name."""
    name = spelled_name(jail, str(ipaddress.ip_address(ip)), node)
    if len(name) > CONTRACT['name']['maxLength'] or not NAME_RE.match(name):
        raise ValueError(f'{name!r} is not a valid object name')
    return name


def parse_time(text):
    """RFC 3339 UTC in whole seconds (`2026-11-26T10:00:00Z`) -> epoch seconds; ValueError otherwise."""
    if not isinstance(text, str) or not TIME_RE.match(text):
        raise ValueError(f'bannedAt {text!r} is not YYYY-MM-DDTHH:MM:SSZ')
    return calendar.timegm(time.strptime(text, '%Y-%m-%dT%H:%M:%SZ'))


def format_time(epoch):
    try:
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):  # beyond what the platform's time functions take
        return f'@{epoch}'


def format_end(end):
    return 'permanent' if end is None else format_time(end)


def later(a, b):
    """Whether end `a` is after end `b` (None: permanent)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def _integer(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f'{what} is not a number')
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        raise ValueError(f'{what} {value!r} is not a number') from None


def parse_record(obj):
    """A Ban object -> Ban; ValueError(reason) if malformed, not canonical or named unlike its spec."""
    if not isinstance(obj, dict) or not isinstance(obj.get('spec'), dict) or not isinstance(obj.get('metadata'), dict):
        raise ValueError('malformed record')
    meta, spec = obj['metadata'], obj['spec']
    name, ip, jail, node = meta.get('name'), spec.get('ip'), spec.get('jail'), spec.get('node')
    if not all(isinstance(v, str) and v for v in (name, jail, node)):
        raise ValueError('malformed record: name, jail and node must be strings')
    if canonical_ip(ip) is None:
        raise ValueError(f'ip {ip!r} is not a canonical single address')
    ban_time = spec.get('banTime')
    if isinstance(ban_time, bool) or not isinstance(ban_time, int) or ban_time < -1:
        raise ValueError(f'banTime {ban_time!r} is not an integer ≥ -1')
    banned_at = parse_time(spec.get('bannedAt'))
    try:
        expected = record_name(jail, ip, node)
    except ValueError:
        expected = None
    if name != expected:
        raise ValueError(f'name does not match the spec (expected {expected})')
    return Ban(name, ip, jail, node, banned_at, ban_time, meta.get('uid'), meta.get('resourceVersion'))


def address_refusal(address, never_ban):
    """Why `address` must never be banned from a record, or None."""
    for network, what in ALWAYS_NEVER_BAN:
        if network.version == address.version and address in network:
            return f'{what} address'
    for network in never_ban:
        if network.version == address.version and address in network:
            return f'inside NEVER_BAN {network}'
    return None


def check_record(obj, shared, never_ban):
    """What validate_record finds without the clock: (Ban, None), or (Ban or None, reason)."""
    try:
        ban = parse_record(obj)
    except ValueError as error:
        return None, str(error)
    if ban.jail not in shared:
        return ban, f'jail {ban.jail} is not shared here'
    return ban, address_refusal(ipaddress.ip_address(ban.ip), never_ban)


class RecordChecks:
    """check_record's answers, kept while the ledger holds the same record object. The main loop plans over every
    record at every tick; checking them all again cost ~60 ms of CPU per 1 000 records. Safe because records are
    replaced by the watcher, never changed in place; the config (shared, never_ban) does not change at run time."""

    def __init__(self):
        self.answers = {}  # id(record) -> (record, answer); holding the record keeps its id from being reused

    def check(self, obj, shared, never_ban):
        kept = self.answers.get(id(obj))
        if kept is None:
            kept = self.answers[id(obj)] = (obj, check_record(obj, shared, never_ban))
        return kept[1]

    def keep_only(self, records):
        live = {id(obj) for obj in records}
        for key in [key for key in self.answers if key not in live]:
            del self.answers[key]


def unban_order_refusal(ban, unbans):
    """Why an operator's unban order refuses `ban`, or None. `unbans`: (jail, ip) -> orderedAt of the valid unban
    orders. A ban from before the order is what the operator lifted; one after it is a new ban."""
    ordered_at = unbans.get((ban.jail, ban.ip)) if unbans else None
    if ordered_at is not None and ban.banned_at <= ordered_at:
        return f'bannedAt {format_time(ban.banned_at)} is not after the unban order of {format_time(ordered_at)}'
    return None


def validate_record(obj, shared, never_ban, now, checks=None, unbans=None):
    """(Ban, None) for a record this node may apply, else (Ban or None, reason). The rate limit is separate.
    `checks` (RecordChecks) spares checking a record again; `unbans`: see unban_order_refusal (they change at run
    time, so they are not among the kept checks)."""
    ban, reason = checks.check(obj, shared, never_ban) if checks else check_record(obj, shared, never_ban)
    if reason:
        return ban, reason
    if ban.banned_at > now + FUTURE_SLACK:
        return ban, f'bannedAt {format_time(ban.banned_at)} is in the future'
    return ban, unban_order_refusal(ban, unbans)


def effective_end(ban, max_ban_time):
    """The record's end here: at most bannedAt + the mirror's cap (max_ban_time < 0: no cap)."""
    end = ban.end
    if max_ban_time is not None and max_ban_time >= 0:
        cap = ban.banned_at + max_ban_time
        end = cap if end is None else min(end, cap)
    return end


def spec_of(obj):
    spec = obj.get('spec') if isinstance(obj, dict) else None
    return spec if isinstance(spec, dict) else {}


def spec_end(spec):
    """The end of a spec this node built (bannedAt, banTime), None if permanent."""
    return None if spec['banTime'] < 0 else parse_time(spec['bannedAt']) + spec['banTime']


def new_record(group, namespace, name, spec):
    return {'apiVersion': f'{group}/v1', 'kind': 'Ban', 'metadata': {'name': name, 'namespace': namespace},
            'spec': spec}
