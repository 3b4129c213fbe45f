#!/usr/bin/env python3
"""Cluster-wide ban sharing: the sidecar next to fail2ban (the contract is docs/ban-sharing.md).

Three threads, one job each:
  publisher  outbox event files -> Ban records (POST; 409 -> GET, PUT if later; unban -> DELETE), in order, with
             retries; bans restored from fail2ban's database are not published again. Once the first LIST is in
             and then every REPUBLISH_SECONDS: local bans against the ledger (publish what it lacks, unban what an
             administrator deleted meanwhile), own records ended + GRACE.
  watcher    LIST + WATCH of the Ban records -> a queue (relist on 410 or any error); touches STATUS_FILE.
  main       the queue -> the ledger (name -> record); applies other nodes' valid records to the mirror jails and
             unbans them at their end or deletion; a deletion before the end made by someone else also unbans the
             origin jail here (a cluster-wide unban). Every MIRROR_SYNC_SECONDS: the mirror jails against the ledger.
STATE_FILE remembers this node's records seen in the ledger, so that a restarted sidecar tells a record deleted
while it was down (a cluster-wide unban) from a ban it never published.
The decisions are plain functions (record_name, validate_record, plan, deletion_actions, local_ban_decision, ...);
the API (http.client), fail2ban's socket (fail2ban.client.csocket.CSocket) and STATE_FILE are only touched by the
classes below.
Standard library only, besides fail2ban's own socket client.
"""

import calendar
import collections
import dataclasses
import http.client
import ipaddress
import json
import os
import queue
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

FUTURE_SLACK = 60  # seconds a record's bannedAt may be ahead of this node's clock
# fail2ban answers its socket before it has built its jails, and restores a jail's bans from its database only
# after that: the mirrors are compared with the ledger this often, not just once after the LIST
MIRROR_SYNC_SECONDS = 1.0
# fail2ban lists a ban as soon as it holds it and runs the ban's actions right after; an unban in between finds
# nothing to delete in nftables (fail2ban 1.0.2 skips actionunban until the action has banned something) and the
# element is added anyway: a firewall entry fail2ban no longer knows. So an address unbanned because of what
# fail2ban lists (not because of a record's end or deletion) must still be listed at least this much later.
SETTLE_SECONDS = 1.0
# a local ban this young is left to the outbox by the republish round: the publish action writes its event right
# after the firewall action, and a round between the two would POST the ban twice
FRESH_BAN_SECONDS = 10
# how long STATE_FILE keeps a record deleted by someone else (after its end it goes anyway): a ban fail2ban
# restores from its database within this time is still recognized as cluster-wide unbanned
DELETED_RETENTION = 86400
NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')
TIME_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
# one line of `get JAIL banip --with-time`: "192.0.2.10 \t2026-11-26 11:59:30 + 86400 = 2026-11-27 11:59:30"
BANLIST_RE = re.compile(r'^(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+ (-?\d+)(?:\.\d*)? = ')
ADDRESS_CLASSES = (('is_unspecified', 'unspecified'), ('is_loopback', 'loopback'), ('is_link_local', 'link-local'),
                   ('is_multicast', 'multicast'), ('is_reserved', 'reserved'))


def log(message):
    print('ban-sharing: ' + message, flush=True)


# ---------------------------------------------------------------------------------------------------- pure parts

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


def record_name(jail, ip):
    """`sshd.v4-192-0-2-10`, `sshd.v6-2001-db8--10`; ValueError if that is no valid object name."""
    address = ipaddress.ip_address(ip)
    suffix = str(address).replace('.', '-') if address.version == 4 else str(address).replace(':', '-')
    name = f'{jail}.v{address.version}-{suffix}'
    if len(name) > 253 or not NAME_RE.match(name):
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
        expected = record_name(jail, ip)
    except ValueError:
        expected = None
    if name != expected:
        raise ValueError(f'name does not match the spec (expected {expected})')
    return Ban(name, ip, jail, node, banned_at, ban_time, meta.get('uid'), meta.get('resourceVersion'))


def address_refusal(address, never_ban):
    """Why `address` must never be banned from a record, or None."""
    if getattr(address, 'ipv4_mapped', None):
        return 'IPv4-mapped address'
    for attribute, what in ADDRESS_CLASSES:
        if getattr(address, attribute):
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


def validate_record(obj, shared, never_ban, now, checks=None):
    """(Ban, None) for a record this node may apply, else (Ban or None, reason). The rate limit is separate.
    `checks` (RecordChecks) spares checking a record again."""
    ban, reason = checks.check(obj, shared, never_ban) if checks else check_record(obj, shared, never_ban)
    if reason:
        return ban, reason
    if ban.banned_at > now + FUTURE_SLACK:
        return ban, f'bannedAt {format_time(ban.banned_at)} is in the future'
    return ban, None


def effective_end(ban, max_ban_time):
    """The record's end here: at most bannedAt + the mirror's cap (max_ban_time < 0: no cap)."""
    end = ban.end
    if max_ban_time is not None and max_ban_time >= 0:
        cap = ban.banned_at + max_ban_time
        end = cap if end is None else min(end, cap)
    return end


def parse_outbox_event(text):
    """One outbox line -> {op, jail, ip, time, bantime, restored}; ValueError if malformed. `restored` (fail2ban's
    tag: a ban restored from its database after a restart) is False when missing: an older action."""
    try:
        event = json.loads(text)
    except ValueError:
        raise ValueError('not JSON') from None
    if not isinstance(event, dict) or event.get('op') not in ('ban', 'unban'):
        raise ValueError('op is not ban or unban')
    jail = event.get('jail')
    if not isinstance(jail, str) or not jail:
        raise ValueError('no jail')
    try:
        ip = str(ipaddress.ip_address(event.get('ip')))
    except ValueError:
        raise ValueError(f'ip {event.get("ip")!r} is not an address') from None
    bantime, start = _integer(event.get('bantime'), 'bantime'), _integer(event.get('time'), 'time')
    if not 0 < start < 2 ** 33:
        raise ValueError(f'time {start} is out of range')
    restored = _integer(event.get('restored', 0), 'restored') != 0
    return {'op': event['op'], 'jail': jail, 'ip': ip, 'time': start, 'bantime': -1 if bantime < 0 else bantime,
            'restored': restored}


def parse_watch_event(line):
    """One line of a watch stream -> (type, object); ValueError if malformed."""
    try:
        event = json.loads(line)
    except ValueError:
        raise ValueError('watch event is not JSON') from None
    if not isinstance(event, dict) or event.get('type') not in ('ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR') \
            or not isinstance(event.get('object'), dict):
        raise ValueError('malformed watch event')
    if event['type'] != 'ERROR' and not isinstance(event['object'].get('metadata'), dict):
        raise ValueError('watch event without metadata')
    return event['type'], event['object']


def parse_banlist(result):
    """`get JAIL banip --with-time` (local time, TZ) -> [(ip, start epoch, bantime)], bantime -1 permanent."""
    lines = result.splitlines() if isinstance(result, str) else list(result or [])
    bans = []
    for line in lines:
        match = BANLIST_RE.match(str(line))
        if match:
            start = time.mktime(time.strptime(match.group(2), '%Y-%m-%d %H:%M:%S'))
            bans.append((match.group(1), int(start), max(int(match.group(3)), -1)))
    return bans


def merge_decision(existing, spec, node):
    """After a 409: ('update', why) if `existing` is this node's and `spec` ends later, else ('keep', why)."""
    try:
        old = parse_record(existing)
    except ValueError as error:
        return 'keep', f'the existing record is unreadable ({error})'
    if old.node != node:
        return 'keep', f'{old.node} holds it until {format_end(old.end)}'
    new_end = spec_end(spec)
    if later(new_end, old.end):
        return 'update', f'until {format_end(new_end)} instead of {format_end(old.end)}'
    return 'keep', f'it already lasts until {format_end(old.end)}'


class RateLimiter:
    """At most `per_minute` applications per origin node in any 60 s."""

    def __init__(self, per_minute):
        self.per_minute = per_minute
        self.times = collections.defaultdict(collections.deque)

    def allow(self, node, now):
        times = self.times[node]
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True

    def refund(self, node):
        if self.times[node]:
            self.times[node].pop()


def plan(ledger, applied, refused, node, shared, never_ban, limiter, now, checks=None):
    """What to do about the mirror jails, given the ledger (name -> record), what is applied (name -> (Ban, mirror,
    end)) and the refusals already made (name -> resourceVersion). Actions: ('apply', name, ban, mirror, end),
    ('retime', name, ban, mirror, end), ('unban', name, reason), ('refuse', name, rv, reason), ('defer', name, ban).
    `checks` (RecordChecks) keeps the checks of records still in the ledger for the next plan."""
    if checks:
        checks.keep_only(ledger.values())
    actions = []
    for name in sorted(ledger):
        obj = ledger[name]
        rv = obj.get('metadata', {}).get('resourceVersion')
        if spec_of(obj).get('node') == node:
            if name in applied:  # became this node's own record: the origin jail holds it
                actions.append(('unban', name, 'now this node\'s own record'))
            continue
        if name in refused and refused[name] == rv:
            continue
        ban, reason = validate_record(obj, shared, never_ban, now, checks)
        if reason:
            actions.append(('refuse', name, rv, reason))
            if name in applied:
                actions.append(('unban', name, 'refused: ' + reason))
            continue
        mirror = shared[ban.jail].mirror
        end = effective_end(ban, shared[ban.jail].max_ban_time)
        if end is not None and end <= now:
            if name in applied:
                actions.append(('unban', name, 'ended'))
        elif name in applied:
            if applied[name][2] != end or applied[name][0].node != ban.node:
                actions.append(('retime', name, ban, mirror, end))
        elif limiter.allow(ban.node, now):
            actions.append(('apply', name, ban, mirror, end))
        else:
            actions.append(('defer', name, ban))
    actions.extend(('unban', name, 'record deleted') for name in sorted(applied) if name not in ledger)
    return actions


def deletion_actions(obj, by_me, shared, now):
    """A record disappeared: a deletion before its end that this node did not make is a cluster-wide unban, so the
    origin jail here lets the address go too -> [('unban-origin', jail, ip, node)]. The owner's clean-up after the
    end (within FUTURE_SLACK for clock skew) is not."""
    if by_me:
        return []
    try:
        ban = parse_record(obj)
    except ValueError:
        return []
    if ban.jail not in shared or (ban.end is not None and now >= ban.end - FUTURE_SLACK):
        return []
    return [('unban-origin', ban.jail, ban.ip, ban.node)]


def local_ban_decision(name, start, end, ledger, published, tombstones, node, now):
    """What to do about a ban in one of this node's origin jails (since `start`, until `end`, None: permanent),
    given the ledger (name -> record), this node's records as last seen there (name -> state entry) and the
    deletions by someone else seen while watching (name -> when): ('keep' | 'publish' | 'unban', why).
    'unban': its record was deleted by someone else after the ban began (`kubectl delete ban`, possibly while this
    sidecar was down), a cluster-wide unban that this ban must follow, not undo by publishing it again."""
    if name in ledger:
        try:
            held = parse_record(ledger[name])
        except ValueError:
            return 'keep', 'its record is unreadable'
        if held.node == node and later(end, held.end):
            return 'publish', f'it lasts longer than this node\'s record (until {format_end(held.end)})'
        return 'keep', f'{held.node} holds it until {format_end(held.end)}'
    entry = published.get(name)
    # The record this node published began with this ban (a later ban of the address would have replaced it).
    if entry is not None and start <= entry['bannedAt'] and (entry['end'] is None or entry['end'] > now):
        return 'unban', 'this node\'s record of it was deleted by someone else'
    if name in tombstones and start <= tombstones[name]:
        return 'unban', 'its record was deleted by someone else after it began'
    return 'publish', 'missing from the ledger'


def spec_of(obj):
    spec = obj.get('spec') if isinstance(obj, dict) else None
    return spec if isinstance(spec, dict) else {}


def spec_end(spec):
    """The end of a spec this node built (bannedAt, banTime), None if permanent."""
    return None if spec['banTime'] < 0 else parse_time(spec['bannedAt']) + spec['banTime']


def new_record(group, namespace, name, spec):
    return {'apiVersion': f'{group}/v1', 'kind': 'Ban', 'metadata': {'name': name, 'namespace': namespace},
            'spec': spec}


def outbox_order(filename):
    """`<epoch ns>-<pid>.event` in the order written."""
    try:
        ns, pid = filename[:-len('.event')].split('-', 1)
        return 0, int(ns), int(pid), filename
    except ValueError:
        return 1, 0, 0, filename


# ---------------------------------------------------------------------------------------------------- configuration

@dataclasses.dataclass
class Config:
    node: str
    namespace: str = 'fail2ban'
    group: str = 'fail2ban.homelab.internal'
    api: str = ''
    token_file: str = '/var/run/secrets/ban-sharing/token'
    ca_file: str = '/var/run/secrets/ban-sharing/ca.crt'
    socket_path: str = '/var/run/fail2ban/fail2ban.sock'
    outbox: str = '/var/run/fail2ban/outbox'
    shared: dict = dataclasses.field(default_factory=dict)  # origin jail -> SharedJail
    never_ban: list = dataclasses.field(default_factory=list)  # ip_network
    rate_limit: int = 60
    republish_seconds: float = 60.0
    status_file: str = None
    state_file: str = None  # None: the state is kept in memory only
    grace_seconds: float = 60.0  # own records are deleted this long after their end
    tick: float = 0.5  # main loop: at least this often (and at each applied end)
    mirror_sync_seconds: float = MIRROR_SYNC_SECONDS
    settle_seconds: float = SETTLE_SECONDS
    outbox_poll: float = 0.2
    watch_timeout: int = 60  # timeoutSeconds of one WATCH round
    backoff_max: float = 30.0


def parse_shared_jails(text):
    """SHARED_JAILS: {"sshd": {"mirror": "sshd-cluster", "maxBanTime": 86400}}."""
    data = json.loads(text or '{}')
    if not isinstance(data, dict):
        raise ValueError('SHARED_JAILS is not a JSON object')
    shared = {}
    for jail, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('mirror'), str) or not entry['mirror']:
            raise ValueError(f'SHARED_JAILS[{jail!r}] has no mirror')
        record_name(jail, '192.0.2.1')  # the jail must make valid object names
        shared[jail] = SharedJail(entry['mirror'], _integer(entry.get('maxBanTime', -1), 'maxBanTime'))
    return shared


def config_from_env(env):
    host, port = env.get('KUBERNETES_SERVICE_HOST', ''), env.get('KUBERNETES_SERVICE_PORT', '443')
    default_api = f'https://[{host}]:{port}' if ':' in host else f'https://{host}:{port}'
    if not env.get('NODE_NAME'):
        raise ValueError('NODE_NAME is not set')
    return Config(
        node=env['NODE_NAME'], namespace=env.get('NAMESPACE', 'fail2ban'),
        group=env.get('BAN_GROUP', 'fail2ban.homelab.internal'), api=env.get('KUBERNETES_API') or default_api,
        token_file=env.get('TOKEN_FILE', '/var/run/secrets/ban-sharing/token'),
        ca_file=env.get('CA_FILE', '/var/run/secrets/ban-sharing/ca.crt'),
        socket_path=env.get('F2B_SOCKET', '/var/run/fail2ban/fail2ban.sock'),
        outbox=env.get('OUTBOX', '/var/run/fail2ban/outbox'),
        shared=parse_shared_jails(env.get('SHARED_JAILS', '{}')),
        never_ban=[ipaddress.ip_network(n, strict=False) for n in env.get('NEVER_BAN', '').split()],
        rate_limit=int(env.get('RATE_LIMIT', '60')), republish_seconds=float(env.get('REPUBLISH_SECONDS', '60')),
        status_file=env.get('STATUS_FILE') or None, state_file=env.get('STATE_FILE') or None)


# ---------------------------------------------------------------------------------------------------- I/O edges

class ApiError(Exception):
    def __init__(self, status, body):
        message = body.get('message') if isinstance(body, dict) else None
        super().__init__(f'HTTP {status}' + (f': {message}' if message else ''))
        self.status = status

    @property
    def transient(self):
        return self.status in (401, 408, 409, 429) or self.status >= 500


class Api:
    """The Kubernetes API over http.client; the bearer token is read from its file for every request."""

    def __init__(self, base, token_file, ca_file, timeout=30):
        url = urllib.parse.urlsplit(base)
        self.https, self.host, self.prefix = url.scheme == 'https', url.hostname, url.path.rstrip('/')
        self.port = url.port or (443 if self.https else 80)
        self.token_file, self.timeout = token_file, timeout
        self.context = None
        if self.https:
            self.context = ssl.create_default_context(cafile=ca_file if ca_file and os.path.exists(ca_file) else None)

    def _headers(self):
        headers = {'Accept': 'application/json', 'Content-Type': 'application/json'}
        try:
            with open(self.token_file) as f:
                headers['Authorization'] = 'Bearer ' + f.read().strip()
        except OSError:
            pass  # the API answers 401, which is retried
        return headers

    def open(self, method, path, body=None, timeout=None):
        if self.https:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                               timeout=timeout or self.timeout)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, self.prefix + path, body=data, headers=self._headers())
            conn.raw_sock = conn.sock  # getresponse() may drop conn.sock; shutdown() needs it to end a WATCH
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def request(self, method, path, body=None):
        """(status, parsed JSON body or None)."""
        conn, response = self.open(method, path, body)
        try:
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, (json.loads(data) if data else None)
        except ValueError:
            return response.status, {'message': data[:200].decode(errors='replace')}


class F2bError(Exception):
    pass


class Fail2ban:
    """fail2ban's socket, one connection per command (fail2ban-client's own protocol)."""

    def __init__(self, path, timeout=10):
        self.path, self.timeout = path, timeout

    def command(self, *args):
        from fail2ban.client.csocket import CSocket
        try:
            client = CSocket(self.path, timeout=self.timeout)
        except OSError as error:
            raise F2bError(f'cannot connect to {self.path}: {error}') from None
        try:
            code, result = client.send(list(args))
        except Exception as error:
            raise F2bError(f'{" ".join(args)}: {error}') from None
        finally:
            client.close()
        if code != 0:
            raise F2bError(f'{" ".join(args)}: {result!r}')
        return result


class PublishedState:
    """This node's records as last seen in the ledger: name -> {'bannedAt': epoch, 'end': epoch or None
    (permanent), 'deleted': epoch, once deleted by someone else}. Without it a sidecar that was down cannot tell a
    record an administrator deleted meanwhile (a cluster-wide unban: the local ban must go too) from a ban it never
    published (publish it). Entries come only from the ledger, never from a write's answer, so an entry whose
    record is missing from the ledger always means a deletion.
    Kept in `path` (JSON, replaced atomically: a crash leaves the old file or the new one) when given, else in
    memory only; a missing or unreadable file starts empty. Not thread-safe: the sidecar holds its lock."""

    def __init__(self, path=None):
        self.path, self.records, self.dirty, self.save_error = path, {}, False, None
        if path:
            self.records = self._load()

    def _load(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except FileNotFoundError:
            log(f'state file {self.path} does not exist yet: starting empty')
            return {}
        except (OSError, ValueError) as error:
            log(f'error: state file {self.path} is unreadable ({error}): starting empty')
            return {}
        records = data.get('records') if isinstance(data, dict) else None
        if not isinstance(records, dict):
            log(f'error: state file {self.path} has no records: starting empty')
            return {}
        valid = {name: entry for name, entry in records.items() if self._valid(entry)}
        if len(valid) != len(records):
            log(f'error: state file {self.path}: ignored {len(records) - len(valid)} malformed entries')
        log(f'state file {self.path}: records of this node: {len(valid)}')
        return valid

    @staticmethod
    def _valid(entry):
        def number(value, none_ok=False):
            return (value is None and none_ok) or (isinstance(value, int) and not isinstance(value, bool))
        return isinstance(entry, dict) and number(entry.get('bannedAt')) and number(entry.get('end'), True) \
            and number(entry.get('deleted'), True)

    def get(self, name):
        return self.records.get(name)

    def snapshot(self):
        return {name: dict(entry) for name, entry in self.records.items()}

    def remember(self, ban):
        """`ban` (a Ban of this node) is in the ledger."""
        entry = {'bannedAt': ban.banned_at, 'end': ban.end}
        if self.records.get(ban.name) != entry:
            self.records[ban.name] = entry
            self.dirty = True

    def mark_deleted(self, name, now):
        """Gone from the ledger, by someone else's hand, and the local ban may still come back (fail2ban down or
        still restoring its database): kept for DELETED_RETENTION."""
        entry = self.records.get(name)
        if entry is not None and entry.get('deleted') is None:
            entry['deleted'] = int(now)
            self.dirty = True

    def forget(self, name):
        if self.records.pop(name, None) is not None:
            self.dirty = True

    def prune(self, now, grace):
        """Drops the entries of records that have ended (their owner deletes them), and deletions kept long enough."""
        for name, entry in list(self.records.items()):
            ended = entry['end'] is not None and entry['end'] + grace <= now
            if ended or (entry.get('deleted') is not None and entry['deleted'] + DELETED_RETENTION <= now):
                self.forget(name)

    def save(self):
        """Writes the file if anything changed (tmp + rename); an error is logged once, the state stays in memory."""
        if not self.dirty or not self.path:
            self.dirty = False
            return
        tmp = f'{self.path}.tmp'
        try:
            with open(tmp, 'w') as f:
                json.dump({'version': 1, 'records': self.records}, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self.dirty, self.save_error = False, None
        except OSError as error:
            if str(error) != self.save_error:
                self.save_error = str(error)
                log(f'error: state file {self.path} not written: {error}')


class Sightings:
    """Addresses a listing of fail2ban showed as unwanted, and since when: only those still unwanted in a listing
    SETTLE_SECONDS after the first one are acted on (see SETTLE_SECONDS)."""

    def __init__(self, settle_seconds):
        self.settle_seconds, self.first = settle_seconds, {}

    def settled(self, unwanted, now):
        """`unwanted`: the keys a listing at monotonic time `now` shows as unwanted; returns those settled.
        A key not in this listing is forgotten: a later sighting starts over."""
        self.first = {key: self.first.get(key, now) for key in unwanted}
        return {key for key, since in self.first.items() if now - since >= self.settle_seconds}

    def pending(self):
        return bool(self.first)


class Sidecar:
    def __init__(self, config, api=None, f2b=None, clock=time.time):
        self.cfg, self.clock = config, clock
        self.api = api or Api(config.api, config.token_file, config.ca_file)
        self.f2b = f2b or Fail2ban(config.socket_path)
        self.collection = f'/apis/{config.group}/v1/namespaces/{config.namespace}/bans'
        self.stop_event = threading.Event()
        self.queue = queue.Queue()
        self.lock = threading.Lock()  # guards ledger, tombstones, my_deletes, synced, state (both threads use them)
        self.ledger, self.tombstones, self.my_deletes, self.synced = {}, {}, set(), False
        self.state = PublishedState(config.state_file)
        self.applied, self.refused, self.deferred = {}, {}, set()
        self.limiter = RateLimiter(config.rate_limit)
        self.checks = RecordChecks()
        self.unpublishable = set()
        self.f2b_error = None
        self.watch_conn = None
        self.next_sync = 0.0
        self.stray_mirror_bans = Sightings(config.settle_seconds)
        self.deleted_local_bans = Sightings(config.settle_seconds)
        self.threads = []

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        os.makedirs(self.cfg.outbox, exist_ok=True)
        for target in (self.watcher_loop, self.publisher_loop):
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self.threads.append(thread)

    def run(self):
        """Main loop: the watcher's items -> ledger -> mirror jails, until stop()."""
        self.start()
        while not self.stop_event.is_set():
            now = self.clock()
            ends = [end - now for _, _, end in self.applied.values() if end is not None and end > now]
            timeout = max(0.01, min([self.cfg.tick] + ends))  # wake up at the next end
            try:
                item = self.queue.get(timeout=timeout)
                while not self.stop_event.is_set():
                    self.handle(item)
                    item = self.queue.get_nowait()
            except queue.Empty:
                pass
            except Exception as error:  # a bad record must not stop the sidecar
                log(f'error: {error!r}')
            if self.stop_event.is_set():
                break
            try:
                self.reconcile()
                if self.synced and time.monotonic() >= self.next_sync:
                    self.sync_mirrors()
            except Exception as error:
                log(f'error: {error!r}')
        self.shutdown()

    def stop(self):
        self.stop_event.set()

    def shutdown(self):
        self.stop_event.set()
        conn = self.watch_conn
        if conn is not None:
            try:
                conn.raw_sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(timeout=5)
        log('stopped')

    def touch_status(self):
        if self.cfg.status_file:
            with open(self.cfg.status_file, 'a'):
                pass
            os.utime(self.cfg.status_file, None)

    # ------------------------------------------------------------------ main thread: ledger -> mirror jails
    def handle(self, item):
        kind, obj = item[0], item[-1]
        now = self.clock()
        if kind == 'list':
            new = {o['metadata'].get('name'): o for o in obj
                   if isinstance(o, dict) and isinstance(o.get('metadata'), dict)}
            gone = [old for name, old in self.ledger.items() if name not in new]  # deleted while not watching
            with self.lock:
                self.ledger, first = new, not self.synced
                self.synced = True
                for record in new.values():
                    self.note_record(record)
                # Remembered records that are gone, and that this sidecar never saw go: deleted while it was down
                # (the ones it did see are handled by on_deleted below).
                seen = {old['metadata'].get('name') for old in gone}
                for name in list(self.state.records):
                    if name not in new and name not in seen:
                        self.state.mark_deleted(name, now)
                self.state.save()
            for old in gone:
                self.on_deleted(old, now)
            if first:
                log(f'listed {len(new)} records')
            self.sync_mirrors()  # before reconcile: bans already in the mirrors are kept, not re-applied
            return
        etype, name = item[1], obj['metadata'].get('name')
        if etype in ('ADDED', 'MODIFIED'):
            with self.lock:
                self.ledger[name] = obj
                self.note_record(obj)
                self.state.save()
        elif etype == 'DELETED':
            with self.lock:
                self.ledger.pop(name, None)
            self.on_deleted(obj, now)

    def note_record(self, obj):
        """A record in the ledger: remembered in the state if it is this node's (the lock is held)."""
        name = obj['metadata'].get('name')
        try:
            ban = parse_record(obj)
        except ValueError:
            ban = None
        if ban is not None and ban.node == self.cfg.node:
            self.state.remember(ban)
        else:
            self.state.forget(name)  # no longer (or never) this node's

    def on_deleted(self, obj, now):
        uid = obj['metadata'].get('uid')
        with self.lock:
            by_me = uid in self.my_deletes
            self.my_deletes.discard(uid)
        name = obj['metadata'].get('name')
        self.refused.pop(name, None)
        self.deferred.discard(name)
        actions = deletion_actions(obj, by_me, self.cfg.shared, now)
        if not actions:  # this node's own deletion, or a clean-up after the end: nothing left to follow
            with self.lock:
                self.state.forget(name)
                self.state.save()
        for _, jail, ip, node in actions:
            with self.lock:
                self.tombstones[name] = now
            self.unban_origin(name, jail, ip, f'record of {node} deleted before its end', now)

    def unban_origin(self, name, jail, ip, why, now):
        """A cluster-wide unban of `ip` in this node's origin jail. The state entry goes once fail2ban unbanned it;
        if it was not banned (fail2ban may still be restoring its database) or fail2ban is down, the entry stays,
        marked deleted, so that the ban is recognized when it comes back."""
        try:
            changed = self.f2b.command('set', jail, 'unbanip', ip)
            log(f'unbanned {jail} {ip} in {jail}: {why} (cluster-wide unban)'
                + ('' if changed else ', was not banned here'))
        except F2bError as error:
            log(f'error: unban {jail} {ip}: {error}')
            changed = False
        with self.lock:
            if changed:
                self.state.forget(name)
            else:
                self.state.mark_deleted(name, now)
            self.state.save()

    def reconcile(self):
        now = self.clock()
        with self.lock:
            ledger = dict(self.ledger)
        for action in plan(ledger, self.applied, self.refused, self.cfg.node, self.cfg.shared, self.cfg.never_ban,
                           self.limiter, now, self.checks):
            kind, name = action[0], action[1]
            if kind == 'refuse':
                self.refused[name] = action[2]
                node = spec_of(ledger[name]).get('node')
                log(f'refused {name} from {node}: {action[3]}')
            elif kind == 'defer':
                if name not in self.deferred:
                    self.deferred.add(name)
                    log(f'refused {name} from {action[2].node} for now: over the rate limit '
                        f'({self.cfg.rate_limit} per minute)')
            elif kind == 'retime':
                self.applied[name] = action[2:]
            elif kind == 'apply':
                self.apply(name, *action[2:])
            elif kind == 'unban':
                self.unban(name, action[2])

    def _f2b(self, *args):
        try:
            result = self.f2b.command(*args)
            self.f2b_error = None
            return True, result
        except F2bError as error:
            if str(error) != self.f2b_error:  # one line per new error, not one per tick
                self.f2b_error = str(error)
                log(f'error: {error}')
            return False, None

    def apply(self, name, ban, mirror, end):
        ok, _ = self._f2b('set', mirror, 'banip', ban.ip)
        if not ok:
            self.limiter.refund(ban.node)
            return
        self.applied[name] = (ban, mirror, end)
        self.deferred.discard(name)
        log(f'applied {ban.jail} {ban.ip} from {ban.node} until {format_end(end)}')

    def unban(self, name, reason):
        ban, mirror, _ = self.applied[name]
        ok, _ = self._f2b('set', mirror, 'unbanip', ban.ip)
        if ok:
            del self.applied[name]
            log(f'unbanned {ban.jail} {ban.ip} from {ban.node}: {reason}')

    def sync_mirrors(self):
        """Make the mirror jails hold exactly the valid records: fail2ban may have restarted (lost or restored
        bans), this sidecar may have restarted (adopt what is there, unban what was deleted meanwhile). Runs every
        mirror_sync_seconds, because fail2ban restores a mirror's database bans only a moment after its jails
        answer: a ban whose record was deleted while the node was down comes back after the sync at the LIST.
        Cheap enough for that: one `get J-cluster banip` per mirror, and only addresses that are not applied are
        looked up in the ledger (by name) and validated."""
        now, listed_at = self.clock(), time.monotonic()
        self.next_sync = listed_at + self.cfg.mirror_sync_seconds
        with self.lock:
            ledger = dict(self.ledger)
        stray = set()
        for jail, shared in self.cfg.shared.items():
            ok, banned = self._f2b('get', shared.mirror, 'banip')
            if not ok:
                continue
            banned = set(banned if isinstance(banned, list) else str(banned).split())
            held = {ban.ip for ban, mirror, _ in self.applied.values() if mirror == shared.mirror}
            for ip in sorted(banned - held):
                adopted = self.mirror_record(jail, ip, ledger, now)
                if adopted:
                    name, ban, end = adopted
                    self.applied[name] = (ban, shared.mirror, end)
                else:
                    stray.add((shared.mirror, ip))
            lost = [(name, ban) for name, (ban, mirror, _) in self.applied.items()
                    if mirror == shared.mirror and ban.ip not in banned]
            for name, ban in sorted(lost):
                if self._f2b('set', shared.mirror, 'banip', ban.ip)[0]:
                    log(f're-applied {ban.jail} {ban.ip} from {ban.node} in {shared.mirror}: fail2ban had lost it')
        for mirror, ip in sorted(self.stray_mirror_bans.settled(stray, listed_at)):
            if self._f2b('set', mirror, 'unbanip', ip)[0]:
                log(f'unbanned {ip} in {mirror}: no valid record for it')

    def mirror_record(self, jail, ip, ledger, now):
        """(name, Ban, end) if the ledger has a valid, unended record of another node for `ip` in `jail`."""
        try:
            name = record_name(jail, str(ipaddress.ip_address(ip)))
        except ValueError:
            return None
        obj = ledger.get(name)
        if obj is None or spec_of(obj).get('node') == self.cfg.node or name in self.refused:
            return None
        ban, reason = validate_record(obj, self.cfg.shared, self.cfg.never_ban, now, self.checks)
        if reason is not None:
            return None
        end = effective_end(ban, self.cfg.shared[ban.jail].max_ban_time)
        return (name, ban, end) if end is None or end > now else None

    # ------------------------------------------------------------------ watcher thread: LIST + WATCH
    def watcher_loop(self):
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                self.list_and_watch()
                delay = min(0.5, self.cfg.backoff_max)
            except Exception as error:  # any error: relist after a pause
                if self.stop_event.is_set():
                    break
                log(f'error: list/watch: {error}; relisting in {delay:g} s')
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.cfg.backoff_max)

    def list_and_watch(self):
        status, body = self.api.request('GET', self.collection)
        if status != 200:
            raise ApiError(status, body)
        rv = body['metadata']['resourceVersion']
        self.queue.put(('list', body.get('items') or []))
        self.touch_status()
        while not self.stop_event.is_set():
            query = urllib.parse.urlencode({'watch': '1', 'resourceVersion': rv, 'allowWatchBookmarks': 'true',
                                            'timeoutSeconds': str(self.cfg.watch_timeout)})
            conn, response = self.api.open('GET', f'{self.collection}?{query}', timeout=self.cfg.watch_timeout + 30)
            self.watch_conn = conn
            try:
                if response.status == 410:
                    log('watch expired (410), relisting')
                    return
                if response.status != 200:
                    raise ApiError(response.status, None)
                for line in response:
                    if self.stop_event.is_set():
                        return
                    if not line.strip():
                        continue
                    etype, obj = parse_watch_event(line)
                    if etype == 'ERROR':
                        if obj.get('code') == 410:
                            log('watch expired (410), relisting')
                            return
                        raise ApiError(obj.get('code') or 0, obj)
                    rv = obj['metadata'].get('resourceVersion', rv)
                    if etype != 'BOOKMARK':
                        self.queue.put(('event', etype, obj))
                    self.touch_status()
            finally:
                self.watch_conn = None
                conn.close()
            self.touch_status()  # a watch round that ended normally (timeoutSeconds)

    # ------------------------------------------------------------------ publisher thread: outbox -> API
    def publisher_loop(self):
        # The first round as soon as the first LIST is in: what was deleted while this sidecar was down must be
        # unbanned here now, not REPUBLISH_SECONDS later.
        next_republish = 0.0
        while not self.stop_event.is_set():
            try:
                self.process_outbox()
                if time.monotonic() >= next_republish and self.synced:
                    self.republish()
                    self.delete_ended()
                    # An unban that waits for its second sighting (SETTLE_SECONDS) is not left for a whole round.
                    wait = self.cfg.settle_seconds if self.deleted_local_bans.pending() else self.cfg.republish_seconds
                    next_republish = time.monotonic() + wait
            except Exception as error:  # never let the publisher die
                log(f'error: publisher: {error!r}')
            self.stop_event.wait(self.cfg.outbox_poll)

    def process_outbox(self):
        for filename in sorted((f for f in os.listdir(self.cfg.outbox) if f.endswith('.event')), key=outbox_order):
            if self.stop_event.is_set():
                return
            path = os.path.join(self.cfg.outbox, filename)
            try:
                with open(path) as f:
                    event = parse_outbox_event(f.read())
            except FileNotFoundError:
                continue
            except ValueError as error:
                log(f'dropped outbox file {filename}: {error}')
                os.remove(path)
                continue
            if self.with_retries(lambda: self.publish(event), f'{event["op"]} {event["jail"]} {event["ip"]}'):
                os.remove(path)

    def with_retries(self, step, what):
        """Runs `step` until it returns; transient errors are retried with backoff, others logged and dropped.
        False only when stopped first."""
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                step()
                return True
            except ApiError as error:
                if not error.transient:
                    log(f'error: {what}: refused by the API: {error}')
                    return True
                problem = error
            except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as error:
                problem = error  # network, or an answer that is not what the API sends
            log(f'error: {what}: {problem}; retrying in {delay:g} s')
            self.stop_event.wait(delay)
            delay = min(delay * 2, self.cfg.backoff_max)
        return False

    def publish(self, event, quiet=False):
        jail, ip = event['jail'], event['ip']
        try:
            if jail not in self.cfg.shared:
                raise ValueError(f'jail {jail} is not shared')
            name = record_name(jail, ip)
            reason = address_refusal(ipaddress.ip_address(ip), self.cfg.never_ban)
            if reason:
                raise ValueError(reason)
        except ValueError as error:
            if not quiet or (jail, ip) not in self.unpublishable:
                log(f'not published: {event["op"]} {jail} {ip}: {error}')
            self.unpublishable.add((jail, ip))
            return
        if event['op'] == 'ban' and event.get('restored'):
            self.restored_ban(name, event)
        elif event['op'] == 'ban':
            self.publish_ban(name, {'ip': ip, 'jail': jail, 'node': self.cfg.node,
                                    'bannedAt': format_time(event['time']), 'banTime': event['bantime']})
        else:
            self.publish_unban(name, jail, ip)

    def publish_ban(self, name, spec):
        end = format_end(spec_end(spec))
        for _ in range(5):
            status, body = self.api.request('POST', self.collection,
                                            new_record(self.cfg.group, self.cfg.namespace, name, spec))
            if status in (200, 201):
                log(f'published {spec["jail"]} {spec["ip"]} until {end}')
                return
            if status != 409:
                raise ApiError(status, body)
            status, existing = self.api.request('GET', f'{self.collection}/{name}')
            if status == 404:
                continue  # deleted in between: create again
            if status != 200:
                raise ApiError(status, existing)
            decision, why = merge_decision(existing, spec, self.cfg.node)
            if decision == 'keep':
                log(f'kept {name}: {why}')
                return
            status, body = self.api.request('PUT', f'{self.collection}/{name}', dict(existing, spec=spec))
            if status == 200:
                log(f'extended {name}: {why}')
                return
            if status not in (404, 409):
                raise ApiError(status, body)
        raise ApiError(409, {'message': f'{name} keeps changing'})

    def restored_ban(self, name, event):
        """fail2ban restored a ban from its database (it restarted): it was published before, so nothing is
        written (a restart makes no writes). But its record may have been deleted meanwhile by someone else: then
        the ban follows that cluster-wide unban now. A ban the ledger lacks for another reason is left to the
        republish round. Before the first LIST the ledger is unknown: the first round, right after it, decides."""
        with self.lock:
            if not self.synced:
                return
            ledger, published, tombstones = dict(self.ledger), self.state.snapshot(), dict(self.tombstones)
        bantime = event['bantime']
        end = None if bantime < 0 else event['time'] + bantime
        decision, why = local_ban_decision(name, event['time'], end, ledger, published, tombstones, self.cfg.node,
                                           self.clock())
        if decision == 'unban':
            self.unban_origin(name, event['jail'], event['ip'], f'restored ban, but {why}', self.clock())
        elif decision == 'publish':
            log(f'restored {event["jail"]} {event["ip"]} not published now: {why}; left to the republish round')

    def publish_unban(self, name, jail, ip):
        for _ in range(5):
            status, existing = self.api.request('GET', f'{self.collection}/{name}')
            if status == 404:
                with self.lock:  # deleted already (by someone else: on_deleted followed it)
                    self.state.forget(name)
                    self.state.save()
                return
            if status != 200:
                raise ApiError(status, existing)
            node = spec_of(existing).get('node')
            if node != self.cfg.node:
                log(f'left {name}: it is {node}\'s record')
                return
            if self.delete_own(existing):
                log(f'withdrew {jail} {ip}')
                return
        raise ApiError(409, {'message': f'{name} keeps changing'})

    def delete_own(self, existing):
        """DELETE with preconditions (uid, resourceVersion): True if gone, False if it changed meanwhile."""
        meta = existing['metadata']
        with self.lock:
            self.my_deletes.add(meta.get('uid'))
        options = {'apiVersion': 'v1', 'kind': 'DeleteOptions',
                   'preconditions': {'uid': meta.get('uid'), 'resourceVersion': meta.get('resourceVersion')}}
        status, body = self.api.request('DELETE', f'{self.collection}/{meta["name"]}', options)
        if status in (200, 202, 404):  # 404: someone else was faster
            with self.lock:
                if status == 404:
                    self.my_deletes.discard(meta.get('uid'))
                self.state.forget(meta['name'])  # withdrawn or ended: nothing to recognize any more
                self.state.save()
            return True
        with self.lock:
            self.my_deletes.discard(meta.get('uid'))
        if status == 409:
            return False
        raise ApiError(status, body)

    def republish(self):
        """Local bans of the shared jails against the ledger (local_ban_decision): published if the ledger lacks
        them (or holds them shorter, as this node's record) and they are older than FRESH_BAN_SECONDS, unbanned if
        their record was deleted by someone else and a listing SETTLE_SECONDS earlier showed them too.
        The ledger and the state are taken before fail2ban's ban list, and together: an entry whose record is
        missing then means a deletion, not a record on its way (entries come from the ledger only)."""
        now, listed_at = self.clock(), time.monotonic()
        deleted = {}
        with self.lock:
            for name in [n for n, t in self.tombstones.items() if t < now - DELETED_RETENTION]:
                del self.tombstones[name]
            self.state.prune(now, self.cfg.grace_seconds)
            self.state.save()
            ledger, published, tombstones = dict(self.ledger), self.state.snapshot(), dict(self.tombstones)
        for jail in self.cfg.shared:
            try:
                bans = parse_banlist(self.f2b.command('get', jail, 'banip', '--with-time'))
            except F2bError as error:
                log(f'error: republish: {error}')
                continue
            for ip, start, bantime in bans:
                end = None if bantime < 0 else start + bantime
                if end is not None and end <= now:
                    continue
                try:
                    ip = str(ipaddress.ip_address(ip))
                    name = record_name(jail, ip)
                except ValueError:
                    continue
                decision, why = local_ban_decision(name, start, end, ledger, published, tombstones, self.cfg.node,
                                                   now)
                if decision == 'unban':
                    deleted[(jail, ip)] = (name, why)
                elif decision == 'publish' and start <= now - FRESH_BAN_SECONDS:
                    event = {'op': 'ban', 'jail': jail, 'ip': ip, 'time': start, 'bantime': bantime}
                    if (jail, ip) not in self.unpublishable:
                        log(f'republishing {jail} {ip}: {why}')
                    self.with_retries(lambda: self.publish(event, quiet=True), f'republish {jail} {ip}')
        for jail, ip in sorted(self.deleted_local_bans.settled(set(deleted), listed_at)):
            name, why = deleted[(jail, ip)]
            self.unban_origin(name, jail, ip, why, now)

    def delete_ended(self):
        """This node's records whose end is more than the grace period ago."""
        now = self.clock()
        with self.lock:
            ledger = dict(self.ledger)
        for name, obj in sorted(ledger.items()):
            try:
                ban = parse_record(obj)
            except ValueError:
                continue
            if ban.node == self.cfg.node and ban.end is not None and ban.end + self.cfg.grace_seconds <= now:
                try:
                    if self.delete_own(obj):
                        log(f'deleted {name}: ended {format_time(ban.end)}')
                except (ApiError, OSError, http.client.HTTPException) as error:
                    log(f'error: delete {name}: {error}')


def main():
    try:
        config = config_from_env(os.environ)
    except (ValueError, KeyError) as error:
        log(f'error: configuration: {error}')
        return 2
    log(f'started on {config.node}: jails {", ".join(sorted(config.shared)) or "(none)"}, '
        f'{len(config.never_ban)} never-ban ranges, {config.rate_limit} per node per minute')
    sidecar = Sidecar(config)  # reads STATE_FILE, and logs what it found
    signal.signal(signal.SIGTERM, lambda *_: sidecar.stop())
    signal.signal(signal.SIGINT, lambda *_: sidecar.stop())
    if not config.state_file:
        log('warning: STATE_FILE is not set: a record deleted while this sidecar is down will be published again')
    if not config.never_ban:
        log('warning: NEVER_BAN is empty')
    if config.api.startswith('https:') and not os.path.exists(config.ca_file):
        log(f'warning: CA_FILE {config.ca_file} does not exist: the system CAs are used')
    sidecar.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
