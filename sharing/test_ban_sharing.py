"""Tests of the ban-sharing sidecar: its pure parts, and its loops against a stand-in API and fail2ban socket.

Run with Debian's python (it has fail2ban's socket client): /usr/bin/python3 -m unittest -v sharing/test_ban_sharing.py
Addresses are documentation ranges only (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
"""

import contextlib
import copy
import http.server
import ipaddress
import json
import os
import pickle
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import unittest.mock
import urllib.parse
import uuid
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ban_sharing as bs  # noqa: E402


@contextlib.contextmanager
def local_timezone(tz):
    """Runs the block with the process in another time zone: fail2ban's --with-time answers are local time."""
    saved = os.environ.get('TZ')
    os.environ['TZ'] = tz
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = saved
        time.tzset()


GROUP, NAMESPACE = 'fail2ban.homelab.internal', 'fail2ban'
COLLECTION = f'/apis/{GROUP}/v1/namespaces/{NAMESPACE}/bans'
SHARED = {'sshd': bs.SharedJail('sshd-cluster', 86400)}
NEVER_BAN = [ipaddress.ip_network('198.51.100.0/24'), ipaddress.ip_network('2001:db8:ffff::/48')]
TOKENS = {'token-a': 'node-a', 'token-a2': 'node-a', 'token-b': 'node-b', 'token-c': 'node-c'}
ADMIN = 'admin-token'
END, CLOSE = b'<F2B_END_COMMAND>', b'<F2B_CLOSE_COMMAND>'


def name_of(jail, ip):
    """The record name, written independently of the sidecar's record_name()."""
    return f'{jail}.v4-{ip.replace(".", "-")}' if '.' in ip else f'{jail}.v6-{ip.replace(":", "-")}'


def rfc3339(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def record(ip, node='node-b', jail='sshd', banned_at=None, ban_time=3600, name=None, rv='1'):
    banned_at = int(time.time()) - 10 if banned_at is None else banned_at
    return {'apiVersion': f'{GROUP}/v1', 'kind': 'Ban',
            'metadata': {'name': name or name_of(jail, ip), 'namespace': NAMESPACE, 'resourceVersion': rv,
                         'uid': str(uuid.uuid4())},
            'spec': {'ip': ip, 'jail': jail, 'node': node, 'bannedAt': rfc3339(banned_at), 'banTime': ban_time}}


def wait_for(predicate, timeout=30.0, what='condition'):  # a hang detector, not a speed limit: machines are busy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.01)
    raise AssertionError(f'timed out waiting for {what}')


# ------------------------------------------------------------------------------------------------- stand-ins

class FakeApi:
    """The API calls the sidecar makes, with resourceVersions, the CRD's checks (422) and the admission policy (403):
    a token maps to a node; CREATE/UPDATE only with spec.node = that node, UPDATE never shortens or changes
    ip/jail/node, DELETE only own records. The admin token is not matched by the policy."""

    def __init__(self, tls=None):
        self.objects, self.history, self.requests = {}, [], []
        self.rv, self.min_rv, self.kicks = 1000, 0, 0
        self.expired_as_status = False  # 410 as an HTTP status instead of an ERROR event in the stream
        self.cond = threading.Condition()
        self.closed = False
        handler = type('Handler', (FakeApiHandler,), {'api': self})
        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
        self.server.daemon_threads = True
        if tls:  # an ssl.SSLContext: HTTPS like the real API
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f'{"https" if tls else "http"}://127.0.0.1:{self.server.server_address[1]}'
        threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # direct access for the tests
    def calls(self, method, path_prefix=COLLECTION, watch=False):
        return [r for r in list(self.requests) if r['method'] == method and r['path'].startswith(path_prefix)
                and ('watch' in r['query']) == watch]

    def _event(self, etype, obj):
        self.history.append((int(obj['metadata']['resourceVersion']), etype, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def inject(self, obj):
        """Stores a record as is (no checks): what a buggy or hostile writer could leave in the ledger."""
        obj = copy.deepcopy(obj)
        with self.cond:
            obj['metadata'].setdefault('uid', str(uuid.uuid4()))
            obj['metadata']['resourceVersion'] = self._next_rv()
            etype = 'MODIFIED' if obj['metadata']['name'] in self.objects else 'ADDED'
            self.objects[obj['metadata']['name']] = obj
            self._event(etype, obj)
        return obj

    def admin_delete(self, name):
        with self.cond:
            obj = self.objects.pop(name)
            obj['metadata']['resourceVersion'] = self._next_rv()
            self._event('DELETED', obj)

    def expire(self, change=None):
        """Changes the store without events, compacts the history and ends every watch: a re-watch gets 410."""
        with self.cond:
            if change:
                change(self.objects)
            self._next_rv()
            self.min_rv = self.rv
            self.kicks += 1
            self.cond.notify_all()

    # HTTP
    def dispatch(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        length = int(h.headers.get('Content-Length') or 0)
        raw = h.rfile.read(length) if length else b''
        auth = h.headers.get('Authorization', '')
        token = auth[len('Bearer '):] if auth.startswith('Bearer ') else None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append({'method': method, 'path': url.path, 'query': query, 'token': token, 'body': body})
        if token != ADMIN and token not in TOKENS:
            return self.send(h, 401, 'Unauthorized')
        who = None if token == ADMIN else TOKENS[token]
        if not url.path.startswith(COLLECTION):
            return self.send(h, 404, 'NotFound')
        name = url.path[len(COLLECTION) + 1:] or None
        if method == 'GET' and name is None and query.get('watch') in ('1', 'true'):
            return self.watch(h, query)
        with self.cond:
            code, answer = self.operate(method, name, body, who)
        self.send(h, code, answer)

    def operate(self, method, name, body, who):
        current = self.objects.get(name) if name else None
        if method == 'GET' and name is None:
            return 200, {'apiVersion': f'{GROUP}/v1', 'kind': 'BanList', 'metadata': {'resourceVersion': str(self.rv)},
                         'items': [copy.deepcopy(o) for _, o in sorted(self.objects.items())]}
        if method == 'GET':
            return (200, copy.deepcopy(current)) if current else (404, 'NotFound')
        if method == 'POST':
            problem = self.invalid(body)
            if problem:
                return 422, problem
            if who and body['spec']['node'] != who:
                return 403, 'Forbidden: spec.node is not the node of the token'
            if body['metadata']['name'] in self.objects:
                return 409, 'AlreadyExists'
            obj = copy.deepcopy(body)
            obj['metadata'].update(uid=str(uuid.uuid4()), resourceVersion=self._next_rv(), namespace=NAMESPACE)
            self.objects[obj['metadata']['name']] = obj
            self._event('ADDED', obj)
            return 201, copy.deepcopy(obj)
        if current is None:
            return 404, 'NotFound'
        if method == 'PUT':
            problem = self.invalid(body) or ('' if body['metadata']['name'] == name else 'name differs')
            if problem:
                return 422, problem
            if body['metadata'].get('resourceVersion') != current['metadata']['resourceVersion']:
                return 409, 'Conflict: the object has been modified'
            old, new = current['spec'], body['spec']
            if who and (new['node'] != who or any(old[k] != new[k] for k in ('ip', 'jail', 'node'))
                        or not bs.later(end_of(new), end_of(old)) and end_of(new) != end_of(old)):
                return 403, 'Forbidden: update of ip/jail/node, another node, or a shorter ban'
            obj = copy.deepcopy(body)
            obj['metadata'].update(uid=current['metadata']['uid'], resourceVersion=self._next_rv())
            self.objects[name] = obj
            self._event('MODIFIED', obj)
            return 200, copy.deepcopy(obj)
        if method == 'DELETE':
            pre = (body or {}).get('preconditions') or {}
            if any(pre.get(k) not in (None, current['metadata'][k]) for k in ('uid', 'resourceVersion')):
                return 409, 'Conflict: precondition failed'
            if who and current['spec']['node'] != who:
                return 403, 'Forbidden: not the node\'s own record'
            del self.objects[name]
            current['metadata']['resourceVersion'] = self._next_rv()
            self._event('DELETED', current)
            return 200, copy.deepcopy(current)
        return 405, 'MethodNotAllowed'

    @staticmethod
    def invalid(body):
        try:
            spec, name = body['spec'], body['metadata']['name']
            address = ipaddress.ip_address(spec['ip'])
            assert str(address) == spec['ip'], 'ip not canonical'
            assert isinstance(spec['jail'], str) and isinstance(spec['node'], str) and spec['node']
            assert isinstance(spec['banTime'], int) and spec['banTime'] >= -1
            time.strptime(spec['bannedAt'], '%Y-%m-%dT%H:%M:%SZ')
            assert name == name_of(spec['jail'], spec['ip']), 'name does not match the spec'
        except (AssertionError, KeyError, TypeError, ValueError) as error:
            return f'Invalid: {error}'
        return None

    def watch(self, h, query):
        rv, timeout = int(query.get('resourceVersion') or 0), float(query.get('timeoutSeconds') or 30)
        with self.cond:
            expired, kicks = rv < self.min_rv, self.kicks
        if expired:
            gone = {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'reason': 'Expired', 'code': 410,
                    'message': 'too old resource version'}
            if self.expired_as_status:
                return self.send(h, 410, 'Expired: too old resource version')
            return self.stream(h, [json.dumps({'type': 'ERROR', 'object': gone})], None, None, kicks)
        return self.stream(h, [], rv, time.monotonic() + timeout, kicks)

    def stream(self, h, first, rv, deadline, kicks):
        h.send_response(200)
        h.send_header('Content-Type', 'application/json')
        h.send_header('Transfer-Encoding', 'chunked')
        h.end_headers()
        h.close_connection = True
        bookmark = time.monotonic() + 0.3

        def chunk(text):
            data = (text + '\n').encode()
            h.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
            h.wfile.flush()
        try:
            for line in first:
                chunk(line)
            while rv is not None and time.monotonic() < deadline:
                with self.cond:
                    pending = [e for e in self.history if e[0] > rv]
                    if not pending and not self.closed and self.kicks == kicks:
                        self.cond.wait(0.05)
                        pending = [e for e in self.history if e[0] > rv]
                    ended, current = self.closed or self.kicks != kicks, self.rv
                for event_rv, etype, obj in pending:
                    chunk(json.dumps({'type': etype, 'object': obj}))
                    rv = event_rv
                if ended:
                    break
                if time.monotonic() > bookmark and not pending:
                    chunk(json.dumps({'type': 'BOOKMARK', 'object': {
                        'kind': 'Ban', 'apiVersion': f'{GROUP}/v1', 'metadata': {'resourceVersion': str(current)}}}))
                    rv, bookmark = max(rv, current), time.monotonic() + 0.3
            h.wfile.write(b'0\r\n\r\n')
        except OSError:
            pass  # the client went away

    @staticmethod
    def send(h, code, answer):
        if isinstance(answer, str):
            answer = {'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure', 'message': answer,
                      'reason': answer.split(':')[0], 'code': code}
        data = json.dumps(answer).encode()
        try:
            h.send_response(code)
            h.send_header('Content-Type', 'application/json')
            h.send_header('Content-Length', str(len(data)))
            h.send_header('Connection', 'close')
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass
        h.close_connection = True


def end_of(spec):
    return None if spec['banTime'] < 0 else bs.parse_time(spec['bannedAt']) + spec['banTime']


class FakeApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    api = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.api.dispatch(self, 'GET')

    def do_POST(self):
        self.api.dispatch(self, 'POST')

    def do_PUT(self):
        self.api.dispatch(self, 'PUT')

    def do_DELETE(self):
        self.api.dispatch(self, 'DELETE')


class FakeFail2ban:
    """fail2ban's socket protocol (pickled command list, <F2B_END_COMMAND>), for the commands the sidecar sends;
    answers like fail2ban 1.0.2 (1/0 for banip/unbanip, "IP \\tstart + bantime = end" lines in local time)."""

    def __init__(self, path, jails):
        self.path, self.bans, self.commands = path, {jail: {} for jail in jails}, []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.closed = False
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()

    def banned(self, jail):
        with self.lock:
            return set(self.bans[jail])

    def ran(self, *command):
        with self.lock:
            return list(command) in self.commands

    def count(self, *command):
        with self.lock:
            return self.commands.count(list(command))

    def serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.connection, args=(conn,), daemon=True).start()

    def connection(self, conn):
        buffer = b''
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buffer += data
                while END in buffer:
                    message, buffer = buffer.split(END, 1)
                    if message == CLOSE:
                        return
                    conn.sendall(pickle.dumps(self.handle(pickle.loads(message)), pickle.HIGHEST_PROTOCOL) + END)

    def handle(self, command):
        with self.lock:  # the effect and the record of the command at once
            self.commands.append(command)
            if command == ['ping']:
                return 0, 'pong'
            if len(command) < 3 or command[1] not in self.bans:
                return 1, ValueError(f'unknown jail or command {command!r}')
            bans, verb = self.bans[command[1]], command[0:3:2]
            if verb == ['set', 'banip']:
                fresh = [ip for ip in command[3:] if ip not in bans]
                for ip in fresh:
                    bans[ip] = (int(time.time()), 86400)
                return 0, len(fresh)
            if verb == ['set', 'unbanip']:
                gone = [ip for ip in command[3:] if bans.pop(ip, None)]
                return 0, len(gone)
            if command[2:] == ['banip', '--with-time']:
                return 0, [f'{ip} \t{local(start)} + {bt} = {"9999-12-31 23:59:59" if bt < 0 else local(start + bt)}'
                           for ip, (start, bt) in bans.items()]
            if command[2:] == ['banip']:
                return 0, list(bans)
            return 1, ValueError(f'unsupported {command!r}')


def local(epoch):
    return time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(epoch))


class Clock:
    """time.time() plus an offset the test moves forward."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.time() + self.offset

    def advance(self, seconds):
        self.offset += seconds


# ------------------------------------------------------------------------------------------------- pure parts

class RecordNameTest(unittest.TestCase):
    def test_names_from_the_contract(self):
        self.assertEqual(bs.record_name('sshd', '192.0.2.10'), 'sshd.v4-192-0-2-10')
        self.assertEqual(bs.record_name('sshd', '2001:db8::10'), 'sshd.v6-2001-db8--10')
        self.assertEqual(bs.record_name('k3s-apiserver', '203.0.113.7'), 'k3s-apiserver.v4-203-0-113-7')

    def test_no_invalid_object_names(self):
        with self.assertRaises(ValueError):
            bs.record_name('Sshd_Custom', '192.0.2.10')
        with self.assertRaises(ValueError):  # would end in '-'
            bs.record_name('sshd', '2001:db8::')

    def test_canonical_single_addresses_only(self):
        for text in ('192.0.2.10', '2001:db8::10', '203.0.113.255'):
            self.assertIsNotNone(bs.canonical_ip(text), text)
        for text in ('192.0.2.010', '2001:DB8::10', '2001:0db8::10', '2001:db8:0:0:0:0:0:10', '192.0.2.0/24',
                     ' 192.0.2.10', 'fe80::1%eth0', '', None, 3221225994, 'example.org'):
            self.assertIsNone(bs.canonical_ip(text), text)


class ValidateRecordTest(unittest.TestCase):
    now = 1_800_000_000

    def check(self, obj):
        return bs.validate_record(obj, SHARED, NEVER_BAN, self.now)[1]

    def test_a_valid_record(self):
        ban, reason = bs.validate_record(record('192.0.2.10', banned_at=self.now - 5), SHARED, NEVER_BAN, self.now)
        self.assertIsNone(reason)
        self.assertEqual((ban.name, ban.ip, ban.node, ban.end), ('sshd.v4-192-0-2-10', '192.0.2.10', 'node-b',
                                                                self.now - 5 + 3600))
        self.assertIsNone(self.check(record('2001:db8::10', banned_at=self.now)))

    def test_refusals(self):
        cases = {
            '127.0.0.1': 'loopback', '::1': 'loopback', '169.254.1.1': 'link-local', 'fe80::1': 'link-local',
            '224.0.0.1': 'multicast', 'ff02::1': 'multicast', '0.0.0.0': 'unspecified', '::1:0:0:0': 'reserved',
            '240.0.0.1': 'reserved', '198.51.100.7': 'NEVER_BAN 198.51.100.0/24',
            # IPv4-mapped: Python < 3.13 writes ::ffff:c000:201, 3.13 and Go ::ffff:192.0.2.1; refused either way
            str(ipaddress.ip_address('::ffff:192.0.2.1')): 'IPv4-mapped',
            '2001:db8:ffff::1': 'NEVER_BAN 2001:db8:ffff::/48',
        }
        for ip, reason in cases.items():
            with self.subTest(ip=ip):
                self.assertIn(reason, self.check(record(ip, banned_at=self.now)) or '')
        # '::' has no valid object name (it would end in '-'): refused before its address class is looked at
        self.assertIsNotNone(self.check(record('::', banned_at=self.now)))
        self.assertIsNotNone(self.check(record('::ffff:192.0.2.1', banned_at=self.now)))

    def test_malformed_records(self):
        def mutated(**spec):
            obj = record('192.0.2.10', banned_at=self.now)
            obj['spec'].update(spec)
            return obj
        cases = [
            (mutated(ip='2001:DB8::10'), 'canonical'), (mutated(ip='192.0.2.010'), 'canonical'),
            (mutated(ip='192.0.2.0/24'), 'canonical'), (mutated(ip='192.0.2.11'), 'name does not match'),
            (mutated(jail='nginx'), 'name does not match'), (mutated(bannedAt='2026-11-26T10:00:00.5Z'), 'bannedAt'),
            (mutated(bannedAt='2026-11-26T11:00:00+01:00'), 'bannedAt'), (mutated(banTime=True), 'banTime'),
            (mutated(banTime='3600'), 'banTime'), (mutated(banTime=-2), 'banTime'), (mutated(node=''), 'malformed'),
            ({'metadata': {'name': 'x'}}, 'malformed'),
        ]
        for obj, reason in cases:
            with self.subTest(spec=obj.get('spec')):
                self.assertIn(reason, self.check(obj) or '')

    def test_foreign_jail_and_future(self):
        self.assertIn('jail nginx is not shared here', self.check(record('192.0.2.10', jail='nginx', banned_at=self.now)))
        self.assertIn('in the future', self.check(record('192.0.2.10', banned_at=self.now + 61)))
        self.assertIsNone(self.check(record('192.0.2.10', banned_at=self.now + 59)))

    def test_end_is_capped_by_the_mirror(self):
        ban = bs.parse_record(record('192.0.2.10', banned_at=self.now, ban_time=-1))
        self.assertIsNone(ban.end)
        self.assertEqual(bs.effective_end(ban, 86400), self.now + 86400)
        self.assertIsNone(bs.effective_end(ban, -1))
        self.assertEqual(bs.format_time(10 ** 30), '@' + str(10 ** 30))  # a huge banTime still logs
        ban = bs.parse_record(record('192.0.2.10', banned_at=self.now, ban_time=600))
        self.assertEqual(bs.effective_end(ban, 86400), self.now + 600)


class ParsingTest(unittest.TestCase):
    def test_outbox_event(self):
        self.assertEqual(
            bs.parse_outbox_event('{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": 1764151200, '
                                  '"bantime": 86400}\n'),
            {'op': 'ban', 'jail': 'sshd', 'ip': '192.0.2.10', 'time': 1764151200, 'bantime': 86400,
             'restored': False})
        # fail2ban's <time> is a float; an IPv6 address comes out canonical
        event = bs.parse_outbox_event('{"op": "unban", "jail": "sshd", "ip": "2001:DB8:0::10", '
                                      '"time": 1764151200.731, "bantime": -1}')
        self.assertEqual((event['ip'], event['time'], event['bantime']), ('2001:db8::10', 1764151200, -1))
        for bad in ('', 'ban sshd', '{"op": "flush", "jail": "sshd", "ip": "192.0.2.10", "time": 1, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "host.example", "time": 1, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": "soon", "bantime": 1}',
                    '{"op": "ban", "ip": "192.0.2.10", "time": 1, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": Infinity, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": 1e20, "bantime": 1}'):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                bs.parse_outbox_event(bad)

    def test_outbox_event_restored_flag(self):
        line = '{"op": "%s", "jail": "sshd", "ip": "192.0.2.10", "time": 1764151200, "bantime": 86400%s}'
        for op in ('ban', 'unban'):
            self.assertTrue(bs.parse_outbox_event(line % (op, ', "restored": 1'))['restored'])
            self.assertFalse(bs.parse_outbox_event(line % (op, ', "restored": 0'))['restored'])
            self.assertFalse(bs.parse_outbox_event(line % (op, ''))['restored'])  # an older action: not restored
        with self.assertRaises(ValueError):
            bs.parse_outbox_event(line % ('ban', ', "restored": "<restored>"'))

    def test_outbox_order(self):
        names = ['1764151200000000010-7.event', '1764151200000000002-9.event', '1764151200000000002-10.event']
        self.assertEqual(sorted(names, key=bs.outbox_order), [names[1], names[2], names[0]])

    def test_watch_event(self):
        etype, obj = bs.parse_watch_event(json.dumps({'type': 'ADDED', 'object': record('192.0.2.10')}))
        self.assertEqual((etype, obj['spec']['ip']), ('ADDED', '192.0.2.10'))
        etype, obj = bs.parse_watch_event('{"type": "ERROR", "object": {"kind": "Status", "code": 410}}')
        self.assertEqual((etype, obj['code']), ('ERROR', 410))
        for bad in ('nope', '{"type": "ADDED"}', '{"type": "SOMETHING", "object": {}}', '{"type": "ADDED", "object": {}}'):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                bs.parse_watch_event(bad)

    def test_banlist_in_local_time(self):
        # the exact lines fail2ban 1.0.2 answers to `get sshd banip --with-time` (server and sidecar in TZ)
        lines = ['192.0.2.10 \t2026-11-26 11:59:30 + 86400 = 2026-11-27 11:59:30',
                 '2001:db8::10 \t2026-11-26 11:59:30 + -1 = 9999-12-31 23:59:59', 'garbage']
        with local_timezone('Europe/Berlin'):
            bans = bs.parse_banlist(lines)
            self.assertEqual(bs.parse_banlist('\n'.join(lines)), bans)
        start = bs.parse_time('2026-11-26T10:59:30Z')  # 11:59:30 CET
        self.assertEqual(bans, [('192.0.2.10', start, 86400), ('2001:db8::10', start, -1)])


class DecisionTest(unittest.TestCase):
    now = 1_800_000_000

    def spec(self, banned_at, ban_time, node='node-a'):
        return {'ip': '192.0.2.10', 'jail': 'sshd', 'node': node, 'bannedAt': rfc3339(banned_at), 'banTime': ban_time}

    def test_merge_extends_only_if_later(self):
        existing = record('192.0.2.10', node='node-a', banned_at=self.now, ban_time=600)
        self.assertEqual(bs.merge_decision(existing, self.spec(self.now + 60, 600), 'node-a')[0], 'update')
        self.assertEqual(bs.merge_decision(existing, self.spec(self.now, 600), 'node-a')[0], 'keep')
        self.assertEqual(bs.merge_decision(existing, self.spec(self.now + 60, 500), 'node-a')[0], 'keep')
        self.assertEqual(bs.merge_decision(existing, self.spec(self.now, -1), 'node-a')[0], 'update')
        permanent = record('192.0.2.10', node='node-a', banned_at=self.now, ban_time=-1)
        self.assertEqual(bs.merge_decision(permanent, self.spec(self.now + 60, 86400), 'node-a')[0], 'keep')
        theirs = record('192.0.2.10', node='node-b', banned_at=self.now, ban_time=600)
        decision, why = bs.merge_decision(theirs, self.spec(self.now, 86400), 'node-a')
        self.assertEqual((decision, why), ('keep', f'node-b holds it until {rfc3339(self.now + 600)}'))

    def plan(self, ledger, applied=None, refused=None, limiter=None, now=None):
        return bs.plan({o['metadata']['name']: o for o in ledger}, applied or {}, refused or {}, 'node-a', SHARED,
                       NEVER_BAN, limiter or bs.RateLimiter(60), self.now if now is None else now)

    def test_plan(self):
        theirs = record('192.0.2.10', banned_at=self.now - 10, ban_time=600)
        mine = record('192.0.2.11', node='node-a', banned_at=self.now - 10)
        ended = record('192.0.2.12', banned_at=self.now - 700, ban_time=600)
        actions = self.plan([theirs, mine, ended])
        self.assertEqual([a[0:2] for a in actions], [('apply', 'sshd.v4-192-0-2-10')])
        self.assertEqual(actions[0][3:], ('sshd-cluster', self.now + 590))
        applied = {'sshd.v4-192-0-2-10': (bs.parse_record(theirs), 'sshd-cluster', self.now + 590),
                   'sshd.v4-192-0-2-13': (bs.parse_record(record('192.0.2.13')), 'sshd-cluster', None)}
        self.assertEqual(self.plan([theirs], applied), [('unban', 'sshd.v4-192-0-2-13', 'record deleted')])
        self.assertEqual(self.plan([theirs], applied, now=self.now + 590)[0], ('unban', 'sshd.v4-192-0-2-10', 'ended'))

    def test_plan_refuses_once_per_resource_version(self):
        bad = record('127.0.0.1', banned_at=self.now, rv='7')
        actions = self.plan([bad])
        self.assertEqual(actions, [('refuse', 'sshd.v4-127-0-0-1', '7', 'loopback address')])
        self.assertEqual(self.plan([bad], refused={'sshd.v4-127-0-0-1': '7'}), [])
        self.assertEqual(len(self.plan([bad], refused={'sshd.v4-127-0-0-1': '6'})), 1)

    def test_plan_checks_a_record_once_and_a_replaced_one_again(self):
        checks, calls = bs.RecordChecks(), []
        original = bs.check_record

        def counted(obj, shared, never_ban):
            calls.append(obj['metadata']['name'])
            return original(obj, shared, never_ban)

        def plan(ledger):
            return bs.plan({o['metadata']['name']: o for o in ledger}, {}, {}, 'node-a', SHARED, NEVER_BAN,
                           bs.RateLimiter(60), self.now, checks)

        good = record('192.0.2.10', banned_at=self.now - 10, rv='1')
        with unittest.mock.patch.object(bs, 'check_record', counted):
            self.assertEqual([a[0] for a in plan([good])], ['apply'])
            self.assertEqual([a[0] for a in plan([good])], ['apply'])
            self.assertEqual(calls, ['sshd.v4-192-0-2-10'])
            replaced = record('192.0.2.10', banned_at=self.now - 10, ban_time='one hour', rv='2')
            self.assertEqual([a[0] for a in plan([replaced])], ['refuse'])
            self.assertEqual(len(calls), 2)
        self.assertEqual(list(checks.answers), [id(replaced)])  # the replaced record's answer is gone

    def test_plan_rate_limit_per_origin_node(self):
        limiter = bs.RateLimiter(2)
        ledger = [record(f'192.0.2.{i}', banned_at=self.now) for i in (1, 2, 3)] + \
                 [record('192.0.2.4', node='node-c', banned_at=self.now)]
        self.assertEqual([a[0] for a in self.plan(ledger, limiter=limiter)], ['apply', 'apply', 'defer', 'apply'])
        self.assertEqual([a[0] for a in self.plan(ledger[2:3], limiter=limiter, now=self.now + 30)], ['defer'])
        self.assertEqual([a[0] for a in self.plan(ledger[2:3], limiter=limiter, now=self.now + 61)], ['apply'])

    def test_deletions(self):
        live = record('192.0.2.10', banned_at=self.now - 10, ban_time=600)
        self.assertEqual(bs.deletion_actions(live, False, SHARED, self.now),
                         [('unban-origin', 'sshd', '192.0.2.10', 'node-b')])
        self.assertEqual(bs.deletion_actions(live, True, SHARED, self.now), [])
        self.assertEqual(bs.deletion_actions(live, False, SHARED, self.now + 590), [])  # the owner's clean-up
        permanent = record('192.0.2.10', banned_at=self.now - 10, ban_time=-1)
        self.assertEqual(len(bs.deletion_actions(permanent, False, SHARED, self.now + 10 ** 6)), 1)
        self.assertEqual(bs.deletion_actions(record('192.0.2.10', jail='nginx'), False, SHARED, self.now), [])

    def test_local_ban_decision(self):
        start, end = self.now - 100, self.now + 3500
        mine = record('192.0.2.10', node='node-a', banned_at=start, ban_time=3600)
        theirs = record('192.0.2.10', node='node-b', banned_at=start - 50, ban_time=60)
        name = 'sshd.v4-192-0-2-10'
        entry = {'bannedAt': start, 'end': end}

        def decide(ledger=(), published=None, tombstones=None, ban_start=start, ban_end=end):
            return bs.local_ban_decision(name, ban_start, ban_end, {o['metadata']['name']: o for o in ledger},
                                         published or {}, tombstones or {}, 'node-a', self.now)[0]
        self.assertEqual(decide([mine], {name: entry}), 'keep')
        self.assertEqual(decide([theirs]), 'keep')  # another node holds it, for however long
        self.assertEqual(decide([mine], ban_end=end + 60), 'publish')  # longer here than in its record
        self.assertEqual(decide(), 'publish')  # never published
        # published, seen in the ledger, now missing: deleted by someone else
        self.assertEqual(decide(published={name: entry}), 'unban')
        self.assertEqual(decide(published={name: dict(entry, deleted=self.now - 5)}), 'unban')
        # a later ban of the address is a new one, not the deleted record's
        self.assertEqual(decide(published={name: entry}, ban_start=start + 10, ban_end=end + 10), 'publish')
        # the record had ended (its owner deletes it then): the ban is published again
        self.assertEqual(decide(published={name: {'bannedAt': start, 'end': self.now - 1}}), 'publish')
        self.assertEqual(decide(published={name: {'bannedAt': start, 'end': None}}, ban_end=None), 'unban')
        # someone else's record deleted while this node watched, after this ban began / before it
        self.assertEqual(decide(tombstones={name: self.now - 10}), 'unban')
        self.assertEqual(decide(tombstones={name: start - 1}), 'publish')
        broken = record('192.0.2.10', node='node-a', banned_at=start)
        broken['spec']['banTime'] = 'long'
        self.assertEqual(decide([broken], {name: entry}), 'keep')

    def test_config_from_env(self):
        config = bs.config_from_env({
            'NODE_NAME': 'k3s-agent-1', 'NAMESPACE': 'fail2ban', 'BAN_GROUP': 'bans.example', 'TOKEN_FILE': '/t',
            'KUBERNETES_SERVICE_HOST': '10.43.0.1', 'KUBERNETES_SERVICE_PORT': '443',
            'SHARED_JAILS': '{"sshd": {"mirror": "sshd-cluster", "maxBanTime": 86400}}',
            'NEVER_BAN': '203.0.113.1 198.51.100.0/24 2001:db8::/32', 'RATE_LIMIT': '30', 'REPUBLISH_SECONDS': '60',
            'STATUS_FILE': '/var/run/fail2ban/ban-sharing.alive', 'STATE_FILE': '/var/lib/ban-sharing/state.json'})
        self.assertEqual(config.state_file, '/var/lib/ban-sharing/state.json')
        self.assertIsNone(bs.config_from_env({'NODE_NAME': 'n'}).state_file)
        self.assertEqual((config.node, config.group, config.api, config.rate_limit, config.token_file),
                         ('k3s-agent-1', 'bans.example', 'https://10.43.0.1:443', 30, '/t'))
        self.assertEqual(config.shared, {'sshd': bs.SharedJail('sshd-cluster', 86400)})
        self.assertEqual([str(n) for n in config.never_ban], ['203.0.113.1/32', '198.51.100.0/24', '2001:db8::/32'])
        self.assertEqual(bs.config_from_env({'NODE_NAME': 'n', 'KUBERNETES_SERVICE_HOST': 'fd00::1'}).api,
                         'https://[fd00::1]:443')
        with self.assertRaises(ValueError):
            bs.config_from_env({})
        with self.assertRaises(ValueError):
            bs.config_from_env({'NODE_NAME': 'n', 'SHARED_JAILS': '{"sshd": {}}'})


class PublishedStateTest(unittest.TestCase):
    now = 1_800_000_000

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='ban-sharing-state-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.path = os.path.join(self.dir, 'state.json')
        self.logs = []
        patcher = mock.patch.object(bs, 'log', self.logs.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def ban(self, ip, banned_at=None, ban_time=3600):
        return bs.parse_record(record(ip, node='node-a', banned_at=banned_at or self.now - 10, ban_time=ban_time))

    def test_round_trip_written_atomically(self):
        state = bs.PublishedState(self.path)
        self.assertEqual(state.records, {})
        self.assertIn(f'state file {self.path} does not exist yet: starting empty', self.logs)
        state.remember(self.ban('192.0.2.10'))
        state.remember(self.ban('2001:db8::10', ban_time=-1))
        state.mark_deleted('sshd.v6-2001-db8--10', self.now)
        state.save()
        self.assertEqual(os.listdir(self.dir), ['state.json'])  # the temporary file was renamed
        again = bs.PublishedState(self.path)
        self.assertEqual(again.records, {
            'sshd.v4-192-0-2-10': {'bannedAt': self.now - 10, 'end': self.now + 3590},
            'sshd.v6-2001-db8--10': {'bannedAt': self.now - 10, 'end': None, 'deleted': self.now}})
        mtime = os.stat(self.path).st_mtime_ns
        again.remember(self.ban('192.0.2.10'))  # the same: nothing to write
        again.save()
        self.assertEqual(os.stat(self.path).st_mtime_ns, mtime)
        again.forget('sshd.v4-192-0-2-10')
        again.save()
        self.assertEqual(list(bs.PublishedState(self.path).records), ['sshd.v6-2001-db8--10'])

    def test_missing_or_corrupt_file_starts_empty(self):
        for content, message in (('{"records": {', 'is unreadable'), ('[1, 2]', 'has no records'),
                                 ('{"records": []}', 'has no records')):
            with self.subTest(content=content):
                with open(self.path, 'w') as f:
                    f.write(content)
                self.assertEqual(bs.PublishedState(self.path).records, {})
                self.assertTrue(any(message in line and line.startswith('error: ') for line in self.logs), self.logs)
        with open(self.path, 'w') as f:
            json.dump({'version': 1, 'records': {'a': {'bannedAt': 1, 'end': None}, 'b': {'bannedAt': 'x'},
                                                 'c': 'x', 'd': {'bannedAt': 1, 'end': True}}}, f)
        self.assertEqual(bs.PublishedState(self.path).records, {'a': {'bannedAt': 1, 'end': None}})
        self.assertIn(f'error: state file {self.path}: ignored 3 malformed entries', self.logs)

    def test_without_a_file_in_memory_only(self):
        state = bs.PublishedState(None)
        state.remember(self.ban('192.0.2.10'))
        state.save()
        self.assertEqual(list(state.records), ['sshd.v4-192-0-2-10'])
        self.assertEqual(os.listdir(self.dir), [])

    def test_an_unwritable_file_is_logged_once_and_kept_in_memory(self):
        state = bs.PublishedState(os.path.join(self.dir, 'missing-dir', 'state.json'))
        for ip in ('192.0.2.10', '192.0.2.11'):
            state.remember(self.ban(ip))
            state.save()
        self.assertEqual(len([line for line in self.logs if 'not written' in line]), 1)
        self.assertEqual(len(state.records), 2)

    def test_prune(self):
        state = bs.PublishedState(None)
        state.remember(self.ban('192.0.2.10', banned_at=self.now - 200, ban_time=100))  # ended 100 s ago
        state.remember(self.ban('192.0.2.11', banned_at=self.now - 200, ban_time=170))  # ended 30 s ago
        state.remember(self.ban('192.0.2.12', ban_time=-1))
        state.remember(self.ban('192.0.2.13', ban_time=-1))
        state.mark_deleted('sshd.v4-192-0-2-12', self.now - bs.DELETED_RETENTION)
        state.mark_deleted('sshd.v4-192-0-2-13', self.now - 10)
        state.prune(self.now, 60)
        self.assertEqual(sorted(state.records), ['sshd.v4-192-0-2-11', 'sshd.v4-192-0-2-13'])


# ------------------------------------------------------------------------------------------------- the loops

class SidecarTest(unittest.TestCase):
    """The sidecar's threads against FakeApi (real HTTP) and FakeFail2ban (real CSocket)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='ban-sharing-')
        self.api = FakeApi()
        self.f2b = FakeFail2ban(os.path.join(self.dir, 'fail2ban.sock'), ['sshd', 'sshd-cluster'])
        self.token_file = os.path.join(self.dir, 'token')
        self.write_token('token-a')
        self.outbox = os.path.join(self.dir, 'outbox')
        self.status_file = os.path.join(self.dir, 'alive')
        self.state_file = os.path.join(self.dir, 'state.json')
        self.clock, self.logs, self.sidecar = Clock(), [], None
        patcher = mock.patch.object(bs, 'log', self.logs.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def tearDown(self):
        if self.sidecar:
            self.sidecar.stop()
            self.thread.join(5)
            self.assertFalse(self.thread.is_alive())
        self.api.close()
        self.f2b.close()
        shutil.rmtree(self.dir)

    def write_token(self, text):
        with open(self.token_file, 'w') as f:
            f.write(text + '\n')

    def start(self, **overrides):
        settings = dict(node='node-a', api=self.api.url, token_file=self.token_file, ca_file='',
                        socket_path=self.f2b.path, outbox=self.outbox, shared=SHARED, never_ban=NEVER_BAN,
                        rate_limit=60, republish_seconds=30, status_file=self.status_file, state_file=self.state_file,
                        grace_seconds=60, tick=0.05, settle_seconds=0.1,
                        outbox_poll=0.02, watch_timeout=5, backoff_max=0.1)
        settings.update(overrides)
        self.sidecar = bs.Sidecar(bs.Config(**settings), clock=self.clock)
        self.thread = threading.Thread(target=self.sidecar.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.sidecar.synced and self.api.calls('GET', watch=True), what='first LIST and WATCH')

    def event(self, op, ip, start=None, bantime=3600, jail='sshd', restored=None):
        """An outbox event as the action writes it; without `restored`, as an older action did."""
        start = int(time.time()) - 5 if start is None else start
        os.makedirs(self.outbox, exist_ok=True)
        name = f'{time.time_ns()}-{os.getpid()}'
        event = {'op': op, 'jail': jail, 'ip': ip, 'time': start, 'bantime': bantime}
        if restored is not None:
            event['restored'] = restored
        with open(os.path.join(self.outbox, name + '.tmp'), 'w') as f:
            json.dump(event, f)
        os.rename(os.path.join(self.outbox, name + '.tmp'), os.path.join(self.outbox, name + '.event'))
        return start

    def stop_sidecar(self):
        """SIGTERM, as when the container stops; fail2ban and the API stay."""
        self.sidecar.stop()
        self.thread.join(5)
        self.assertFalse(self.thread.is_alive())
        self.sidecar = None

    def republish_rounds(self, count=2):
        """Waits until the publisher has begun `count` more republish rounds (each starts by reading the origin jail's
        ban list): once the second has begun, the first has ended. A barrier, where a sleep would assume a speed."""
        begun = self.f2b.count('get', 'sshd', 'banip', '--with-time')
        wait_for(lambda: self.f2b.count('get', 'sshd', 'banip', '--with-time') >= begun + count,
                 what=f'{count} more republish rounds')

    def ledger_barrier(self, ip='203.0.113.250'):
        """Adds a record and waits until the mirror holds it: the sidecar handles ledger events in order, so every
        event before it has been handled."""
        self.api.inject(record(ip))
        wait_for(lambda: ip in self.f2b.banned('sshd-cluster'), what='the barrier record in the mirror')

    def first_round(self):
        """Waits for the publisher's first round after the LIST (it reads the origin jails' ban lists)."""
        wait_for(lambda: self.f2b.ran('get', 'sshd', 'banip', '--with-time'), what='the first round')

    def state_records(self):
        """STATE_FILE's records, {} before it is first written."""
        try:
            with open(self.state_file) as f:
                return json.load(f)['records']
        except FileNotFoundError:
            return {}

    def writes(self):
        return [r for r in list(self.api.requests) if r['method'] in ('POST', 'PUT', 'DELETE')]

    def lists(self):
        return [r for r in list(self.api.requests) if r['method'] == 'GET' and r['path'] == COLLECTION and not r['query']]

    def log_with(self, text):
        return wait_for(lambda: [line for line in list(self.logs) if text in line], what=f'a log line with {text!r}')

    def outbox_empty(self):
        return wait_for(lambda: not os.listdir(self.outbox), what='an empty outbox')

    # publishing
    def test_publishes_a_ban_event(self):
        self.start()
        start = self.event('ban', '192.0.2.10', bantime=86400)
        self.outbox_empty()
        posts = self.api.calls('POST')
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0]['token'], 'token-a')
        self.assertEqual(posts[0]['body'], {
            'apiVersion': f'{GROUP}/v1', 'kind': 'Ban',
            'metadata': {'name': 'sshd.v4-192-0-2-10', 'namespace': NAMESPACE},
            'spec': {'ip': '192.0.2.10', 'jail': 'sshd', 'node': 'node-a', 'bannedAt': rfc3339(start),
                     'banTime': 86400}})
        self.assertIn(f'published sshd 192.0.2.10 until {rfc3339(start + 86400)}', self.logs)
        self.assertIn('sshd.v4-192-0-2-10', self.api.objects)
        self.assertEqual(self.f2b.banned('sshd-cluster'), set())  # never applies its own records

    def test_events_in_order_and_unban_deletes_own_record(self):
        self.start()
        self.event('ban', '2001:db8::10')
        self.event('unban', '2001:db8::10')
        self.log_with('withdrew sshd 2001:db8::10')
        self.assertEqual([r['method'] for r in self.api.requests if r['query'] == {}], ['GET', 'POST', 'GET', 'DELETE'])
        delete = self.api.calls('DELETE')[0]
        self.assertEqual(delete['path'], f'{COLLECTION}/sshd.v6-2001-db8--10')
        self.assertEqual(set(delete['body']['preconditions']), {'uid', 'resourceVersion'})
        self.assertEqual(self.api.objects, {})
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '2001:db8::10'))  # its own deletion: no unban

    def test_unban_leaves_another_nodes_record(self):
        self.api.inject(record('192.0.2.10', node='node-b'))
        self.start()
        self.event('unban', '192.0.2.10')
        self.log_with("left sshd.v4-192-0-2-10: it is node-b's record")
        self.assertEqual(self.api.calls('DELETE'), [])

    def test_conflict_extends_only_if_later(self):
        now = int(time.time())
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=now - 100, ban_time=600))
        self.start()
        self.event('ban', '192.0.2.10', start=now - 10, bantime=600)  # ends 90 s later: PUT
        self.log_with('extended sshd.v4-192-0-2-10')
        self.event('ban', '192.0.2.10', start=now - 50, bantime=600)  # earlier than the record now: kept
        self.log_with('kept sshd.v4-192-0-2-10: it already lasts until')
        self.assertEqual([r['method'] for r in self.api.requests if r['query'] == {}],
                         ['GET', 'POST', 'GET', 'PUT', 'POST', 'GET'])
        self.assertEqual(self.api.objects['sshd.v4-192-0-2-10']['spec']['bannedAt'], rfc3339(now - 10))

    def test_conflict_with_another_nodes_record(self):
        self.api.inject(record('192.0.2.10', node='node-b', ban_time=60))
        self.start()
        self.event('ban', '192.0.2.10', bantime=86400)
        self.log_with('kept sshd.v4-192-0-2-10: node-b holds it until')
        self.assertEqual(self.api.calls('PUT'), [])

    def test_unpublishable_events(self):
        self.start()
        self.event('ban', '198.51.100.7')
        self.event('ban', '192.0.2.10', jail='nginx')
        with open(os.path.join(self.outbox, '1-1.event'), 'w') as f:
            f.write('not json')
        self.outbox_empty()
        self.log_with('not published: ban sshd 198.51.100.7: inside NEVER_BAN')
        self.log_with('not published: ban nginx 192.0.2.10: jail nginx is not shared')
        self.log_with('dropped outbox file 1-1.event')
        self.assertEqual(self.api.calls('POST'), [])

    def test_token_is_reread_and_401_retried(self):
        self.start()
        self.write_token('token-a2')
        self.event('ban', '192.0.2.10')
        self.outbox_empty()
        self.assertEqual(self.api.calls('POST')[-1]['token'], 'token-a2')
        self.write_token('expired')
        self.event('ban', '192.0.2.11')
        self.log_with('error: ban sshd 192.0.2.11: HTTP 401')
        self.write_token('token-a')
        self.outbox_empty()
        self.assertEqual([r['token'] for r in self.api.calls('POST')][-1], 'token-a')
        self.assertIn('sshd.v4-192-0-2-11', self.api.objects)

    def test_forbidden_write_is_dropped(self):
        self.write_token('token-b')  # another node's token: the admission policy refuses spec.node = node-a
        self.start()
        self.event('ban', '192.0.2.10')
        self.outbox_empty()
        self.log_with('error: ban sshd 192.0.2.10: refused by the API: HTTP 403')
        self.assertEqual(self.api.objects, {})

    # applying
    def test_applies_another_nodes_record_and_unbans_at_its_end(self):
        now = int(self.clock())
        self.start()
        self.api.inject(record('192.0.2.10', node='node-b', banned_at=now - 100, ban_time=110))
        self.api.inject(record('192.0.2.11', node='node-a', banned_at=now - 100, ban_time=110))
        self.log_with(f'applied sshd 192.0.2.10 from node-b until {rfc3339(now + 10)}')
        self.assertTrue(self.f2b.ran('set', 'sshd-cluster', 'banip', '192.0.2.10'))
        self.assertEqual(self.f2b.banned('sshd-cluster'), {'192.0.2.10'})
        self.clock.advance(11)
        wait_for(lambda: not self.f2b.banned('sshd-cluster'), what='the unban at the end')
        self.log_with('unbanned sshd 192.0.2.10 from node-b: ended')
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))

    def test_refuses_invalid_records(self):
        now = int(time.time())
        noncanonical = record('2001:db8::10')
        noncanonical['spec']['ip'] = '2001:DB8::10'
        bad = [
            (record('198.51.100.7'), 'inside NEVER_BAN 198.51.100.0/24'),
            (record('127.0.0.1'), 'loopback address'),
            (noncanonical, "ip '2001:DB8::10' is not a canonical single address"),
            (record('192.0.2.10', name='sshd.v4-192-0-2-99'), 'name does not match the spec'),
            (record('192.0.2.11', banned_at=now + 300), f'bannedAt {rfc3339(now + 300)} is in the future'),
            (record('192.0.2.12', jail='nginx'), 'jail nginx is not shared here'),
        ]
        for obj, _ in bad:
            self.api.inject(obj)
        self.api.inject(record('203.0.113.5'))
        self.start()
        wait_for(lambda: '203.0.113.5' in self.f2b.banned('sshd-cluster'), what='the valid record')
        for obj, reason in bad:
            self.log_with(f'refused {obj["metadata"]["name"]} from node-b: {reason}')
        self.assertEqual(self.f2b.banned('sshd-cluster'), {'203.0.113.5'})

    def test_rate_limit_per_origin_node(self):
        self.start(rate_limit=2)
        for i in (1, 2, 3):
            self.api.inject(record(f'192.0.2.{i}'))
        self.log_with('refused sshd.v4-192-0-2-3 from node-b for now: over the rate limit (2 per minute)')
        self.assertEqual(self.f2b.banned('sshd-cluster'), {'192.0.2.1', '192.0.2.2'})
        self.api.inject(record('203.0.113.9', node='node-c'))  # another origin has its own budget
        wait_for(lambda: '203.0.113.9' in self.f2b.banned('sshd-cluster'), what='node-c record')
        self.clock.advance(61)
        wait_for(lambda: '192.0.2.3' in self.f2b.banned('sshd-cluster'), what='the deferred record')

    def test_deletion_by_someone_else_is_a_cluster_wide_unban(self):
        self.f2b.bans['sshd'].update({'192.0.2.10': (int(time.time()), 3600), '192.0.2.20': (int(time.time()), 3600)})
        self.api.inject(record('192.0.2.10', node='node-b'))
        self.api.inject(record('192.0.2.20', node='node-a'))
        self.start()
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.api.admin_delete('sshd.v4-192-0-2-10')  # kubectl delete ban: another node's record
        wait_for(lambda: not self.f2b.banned('sshd-cluster'), what='the mirror unban')
        self.assertTrue(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))
        self.api.admin_delete('sshd.v4-192-0-2-20')  # this node's own record
        wait_for(lambda: self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.20'), what='the origin unban')
        self.assertEqual(self.f2b.banned('sshd'), set())
        self.log_with('unbanned sshd 192.0.2.20 in sshd: record of node-a deleted before its end')

    def test_owner_clean_up_after_the_end_is_no_unban(self):
        now = int(time.time())
        self.f2b.bans['sshd']['192.0.2.10'] = (now, 3600)  # banned here too, for longer
        self.start()
        # Ends 10 s from now: time enough to apply it on a busy machine, then the clock moves past its end.
        created = self.api.inject(record('192.0.2.10', node='node-b', banned_at=now - 100, ban_time=110))
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.clock.advance(11)
        wait_for(lambda: not self.f2b.banned('sshd-cluster'), what='the unban at the end')
        with self.api.cond:
            self.api.operate('DELETE', created['metadata']['name'], None, 'node-b')
        self.ledger_barrier()
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.10'})

    def test_relists_after_410(self):
        self.api.inject(record('192.0.2.10'))
        self.api.inject(record('192.0.2.11'))
        self.start()
        wait_for(lambda: len(self.f2b.banned('sshd-cluster')) == 2, what='both mirror bans')
        for expired_as_status, ip in ((False, '192.0.2.10'), (True, '192.0.2.11')):
            with self.subTest(expired_as_status=expired_as_status):
                self.api.expired_as_status = expired_as_status
                lists = len(self.lists())
                self.api.expire(lambda objects, ip=ip: objects.pop(name_of('sshd', ip)))  # a deletion it never sees
                wait_for(lambda ip=ip: ip not in self.f2b.banned('sshd-cluster'), what='the unban after the relist')
                self.log_with('watch expired (410), relisting')
                self.assertGreater(len(self.lists()), lists)

    def test_republishes_local_bans_missing_from_the_ledger(self):
        now = int(time.time())
        self.f2b.bans['sshd'].update({'192.0.2.10': (now - 20, 3600), '2001:db8::10': (now - 20, -1),
                                      '192.0.2.11': (now - 20, 3600), '192.0.2.12': (now - 7200, 3600)})
        self.api.inject(record('192.0.2.11', node='node-a', banned_at=now - 20, ban_time=3600))
        self.start(republish_seconds=0.3)
        self.log_with('republishing sshd 2001:db8::10')
        wait_for(lambda: len(self.api.calls('POST')) == 2, what='two POSTs')
        self.republish_rounds()  # a further round publishes nothing more
        specs = sorted((p['body']['spec']['ip'], p['body']['spec']['bannedAt'], p['body']['spec']['banTime'])
                       for p in self.api.calls('POST'))
        self.assertEqual(specs, [('192.0.2.10', rfc3339(now - 20), 3600), ('2001:db8::10', rfc3339(now - 20), -1)])

    def test_a_fresh_local_ban_is_left_to_its_outbox_event(self):
        # The ban is in fail2ban's list before its publish action has written the event: a republish round in
        # between must not POST it too.
        now = int(time.time())
        self.f2b.bans['sshd'].update({'192.0.2.10': (now - 20, 3600), '192.0.2.11': (now, 3600)})
        self.start(republish_seconds=0.1)
        self.log_with('republishing sshd 192.0.2.10')
        self.republish_rounds()  # rounds after the first one
        self.assertEqual([p['body']['spec']['ip'] for p in self.api.calls('POST')], ['192.0.2.10'])
        self.event('ban', '192.0.2.11', start=now)
        self.log_with('published sshd 192.0.2.11')
        self.republish_rounds()
        self.assertEqual(sorted(p['body']['spec']['ip'] for p in self.api.calls('POST')), ['192.0.2.10', '192.0.2.11'])

    def test_deletes_own_records_a_grace_period_after_their_end(self):
        now = int(time.time())
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=now - 200, ban_time=100))  # ended 100 s ago
        self.api.inject(record('192.0.2.11', node='node-a', banned_at=now - 200, ban_time=170))  # ended 30 s ago
        self.api.inject(record('192.0.2.12', node='node-b', banned_at=now - 200, ban_time=100))  # not its own
        self.start(republish_seconds=0.2)
        self.log_with('deleted sshd.v4-192-0-2-10: ended')
        self.republish_rounds()
        self.assertEqual(sorted(self.api.objects), ['sshd.v4-192-0-2-11', 'sshd.v4-192-0-2-12'])
        self.assertEqual([r['path'] for r in self.api.calls('DELETE')], [f'{COLLECTION}/sshd.v4-192-0-2-10'])
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))

    def test_mirrors_are_synced_with_the_ledger_at_start(self):
        now = int(time.time())
        self.f2b.bans['sshd-cluster'].update({'192.0.2.10': (now, 86400), '192.0.2.99': (now, 86400)})
        self.api.inject(record('192.0.2.10'))
        self.api.inject(record('192.0.2.11'))
        self.start(rate_limit=1)
        wait_for(lambda: self.f2b.banned('sshd-cluster') == {'192.0.2.10', '192.0.2.11'}, what='the synced mirror')
        self.assertTrue(self.f2b.ran('set', 'sshd-cluster', 'unbanip', '192.0.2.99'))
        self.assertFalse(self.f2b.ran('set', 'sshd-cluster', 'banip', '192.0.2.10'))  # kept, not re-applied

    def test_status_file_is_touched_by_list_and_watch(self):
        self.start()
        first = wait_for(lambda: os.path.exists(self.status_file) and os.stat(self.status_file).st_mtime_ns)
        wait_for(lambda: os.stat(self.status_file).st_mtime_ns > first, what='a newer status file (bookmark)')

    # bans restored from fail2ban's database, the state, the mirror sync
    def test_a_restored_ban_is_not_published_but_an_unban_of_it_is(self):
        start = int(time.time()) - 100
        self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=start))
        self.start()
        self.event('ban', '192.0.2.10', start=start, restored=1)  # fail2ban restarted: a restart writes nothing
        self.event('ban', '192.0.2.11', restored=1)  # not in the ledger and never published: not now either
        self.outbox_empty()  # an event's file goes once the event is sent (or refused): nothing is still to come
        self.log_with('restored sshd 192.0.2.11 not published now: missing from the ledger; '
                      'left to the republish round')
        self.assertEqual(self.writes(), [])
        self.event('unban', '192.0.2.10', start=start, restored=1)  # the owner's unban of a restored ban
        self.log_with('withdrew sshd 192.0.2.10')
        self.assertEqual([r['method'] for r in self.writes()], ['DELETE'])
        self.assertEqual(self.api.objects, {})

    def test_a_restored_ban_whose_record_was_deleted_meanwhile_is_unbanned(self):
        # The administrator deletes the record while fail2ban restarts: the unban finds nothing yet, then fail2ban
        # restores the ban from its database.
        start = int(time.time()) - 100
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=start))
        self.start()
        self.first_round()
        wait_for(lambda: 'sshd.v4-192-0-2-10' in self.state_records(), what='the state entry')
        self.api.admin_delete('sshd.v4-192-0-2-10')
        self.log_with('unbanned sshd 192.0.2.10 in sshd: record of node-a deleted before its end (cluster-wide unban), '
                      'was not banned here')
        self.assertIsNotNone(wait_for(lambda: self.state_records()['sshd.v4-192-0-2-10'].get('deleted'),
                                      what='the entry marked deleted'))
        with self.f2b.lock:
            self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        self.event('ban', '192.0.2.10', start=start, restored=1)
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban of the restored ban')
        self.log_with("unbanned sshd 192.0.2.10 in sshd: restored ban, but this node's record of it was deleted by "
                      "someone else (cluster-wide unban)")
        wait_for(lambda: not self.state_records(), what='the entry forgotten')
        self.assertEqual(self.writes(), [])

    def test_a_deletion_while_the_sidecar_was_down_is_not_undone(self):
        start = int(time.time()) - 100
        self.f2b.bans['sshd'].update({'192.0.2.10': (start, 3600), '192.0.2.11': (start, 3600)})
        self.start()
        # The first round runs right after the LIST: local bans missing from the ledger, never published.
        self.log_with('republishing sshd 192.0.2.10: missing from the ledger')
        wait_for(lambda: len(self.state_records()) == 2, what='both records in the state')
        self.stop_sidecar()
        self.api.admin_delete('sshd.v4-192-0-2-10')  # kubectl delete ban, while this sidecar is down
        posts = len(self.api.calls('POST'))
        self.start()
        wait_for(lambda: '192.0.2.10' not in self.f2b.banned('sshd'), what='the unban in the origin jail')
        self.log_with("unbanned sshd 192.0.2.10 in sshd: this node's record of it was deleted by someone else "
                      "(cluster-wide unban)")
        # The round unbans after everything it would publish: a wrong republish would be in already.
        wait_for(lambda: list(self.state_records()) == ['sshd.v4-192-0-2-11'], what='the entry forgotten')
        self.assertEqual(len(self.api.calls('POST')), posts)
        self.assertEqual(sorted(self.api.objects), ['sshd.v4-192-0-2-11'])
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.11'})

    def test_a_deletion_seen_before_fail2ban_restored_the_ban_is_followed_by_the_next_round(self):
        start = int(time.time()) - 100
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=start))
        self.start(republish_seconds=0.2)
        self.first_round()
        wait_for(lambda: 'sshd.v4-192-0-2-10' in self.state_records(), what='the state entry')
        self.api.admin_delete('sshd.v4-192-0-2-10')
        self.log_with('was not banned here')
        with self.f2b.lock:  # restored without an event (an older action with norestored)
            self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban in the next round')
        self.republish_rounds()
        self.assertEqual(self.writes(), [])

    def test_the_state_holds_this_nodes_records_seen_in_the_ledger(self):
        self.api.inject(record('192.0.2.20', node='node-b'))
        self.start()
        start = self.event('ban', '192.0.2.10')
        start6 = self.event('ban', '2001:db8::10', bantime=-1)
        wait_for(lambda: len(self.state_records()) == 2, what='two entries')
        self.assertEqual(self.state_records(), {'sshd.v4-192-0-2-10': {'bannedAt': start, 'end': start + 3600},
                                                'sshd.v6-2001-db8--10': {'bannedAt': start6, 'end': None}})
        self.event('unban', '192.0.2.10')
        wait_for(lambda: list(self.state_records()) == ['sshd.v6-2001-db8--10'], what='the withdrawn one gone')

    def test_without_a_state_file_in_memory_only(self):
        self.start(state_file=None)
        self.event('ban', '192.0.2.10')
        wait_for(lambda: self.sidecar.state.get('sshd.v4-192-0-2-10'), what='the entry in memory')
        self.assertFalse(os.path.exists(self.state_file))

    def test_mirrors_are_synced_again_after_the_start(self):
        # fail2ban restores a mirror's bans from its database a moment after its jails answer, i.e. after the sync
        # that follows the LIST: the sync runs every few seconds, not once
        self.assertLessEqual(bs.Config(node='n').mirror_sync_seconds, 3)
        self.api.inject(record('192.0.2.10'))
        self.start(mirror_sync_seconds=0.2)
        wait_for(lambda: self.f2b.banned('sshd-cluster') == {'192.0.2.10'}, what='the mirror ban')
        with self.f2b.lock:
            self.f2b.bans['sshd-cluster']['192.0.2.99'] = (int(time.time()), 86400)  # its record deleted meanwhile
            del self.f2b.bans['sshd-cluster']['192.0.2.10']
        wait_for(lambda: self.f2b.banned('sshd-cluster') == {'192.0.2.10'}, what='the mirror synced again')
        self.log_with('unbanned 192.0.2.99 in sshd-cluster: no valid record for it')
        self.log_with('re-applied sshd 192.0.2.10 from node-b in sshd-cluster: fail2ban had lost it')

    def test_a_stray_mirror_ban_is_unbanned_only_when_a_later_listing_still_shows_it(self):
        # Restored from the database a moment ago: fail2ban may still be running its nftables action, and an unban
        # before that action ends would leave the element in the firewall.
        self.start(mirror_sync_seconds=0.2, settle_seconds=0.6)
        with self.f2b.lock:
            self.f2b.bans['sshd-cluster']['192.0.2.99'] = (int(time.time()), 86400)
        seen = time.monotonic()
        wait_for(lambda: '192.0.2.99' not in self.f2b.banned('sshd-cluster'), what='the unban')
        self.assertGreaterEqual(time.monotonic() - seen, 0.6)
        self.log_with('unbanned 192.0.2.99 in sshd-cluster: no valid record for it')

    def test_a_deleted_local_ban_is_unbanned_when_a_later_listing_still_shows_it(self):
        start = int(time.time()) - 100
        self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        self.start()
        wait_for(lambda: 'sshd.v4-192-0-2-10' in self.state_records(), what='the state entry')
        self.stop_sidecar()
        self.api.admin_delete('sshd.v4-192-0-2-10')  # while this sidecar is down
        started = time.monotonic()
        self.start(settle_seconds=0.6)  # republish_seconds: 30
        self.first_round()
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.10'})  # the first round's listing: not yet
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban at a later round')
        self.assertGreaterEqual(time.monotonic() - started, 0.6)
        self.assertLess(time.monotonic() - started, 15)  # a round SETTLE_SECONDS later, not REPUBLISH_SECONDS (30)

    def test_keeps_going_while_fail2ban_is_down(self):
        self.f2b.close()
        os.unlink(self.f2b.path)
        self.start()
        self.api.inject(record('192.0.2.10'))
        self.log_with('error: cannot connect to')
        self.f2b = FakeFail2ban(self.f2b.path, ['sshd', 'sshd-cluster'])
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the ban once fail2ban is back')


@unittest.skipUnless(shutil.which('openssl'), 'openssl is not installed (needed to make a test certificate)')
class HttpsTest(unittest.TestCase):
    """HTTPS with the CA bundle from CA_FILE, as against the real API."""

    def test_api_over_https_only_with_the_right_ca(self):
        directory = tempfile.mkdtemp(prefix='ban-sharing-tls-')
        self.addCleanup(shutil.rmtree, directory)
        cert, key, other = (os.path.join(directory, f) for f in ('cert.pem', 'key.pem', 'other.pem'))
        for out in (cert, other):
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                            '-nodes', '-keyout', key, '-out', out, '-days', '1', '-subj', '/CN=kubernetes',
                            '-addext', 'subjectAltName=IP:127.0.0.1'], check=True, capture_output=True)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(other, key)  # the key of the last certificate made
        api = FakeApi(tls)
        self.addCleanup(api.close)
        with open(os.path.join(directory, 'token'), 'w') as f:
            f.write('token-a')
        self.assertTrue(api.url.startswith('https://'))
        status, body = bs.Api(api.url, os.path.join(directory, 'token'), other).request('GET', COLLECTION)
        self.assertEqual((status, body['kind']), (200, 'BanList'))
        with self.assertRaises(ssl.SSLCertVerificationError):
            bs.Api(api.url, os.path.join(directory, 'token'), cert).request('GET', COLLECTION)
        self.assertEqual([r['token'] for r in api.requests], ['token-a'])


class ProcessTest(unittest.TestCase):
    """The program as the pod runs it: configured by its environment, stopped by SIGTERM."""

    def test_environment_and_sigterm(self):
        directory = tempfile.mkdtemp(prefix='ban-sharing-')
        self.addCleanup(shutil.rmtree, directory)
        api = FakeApi()
        self.addCleanup(api.close)
        f2b = FakeFail2ban(os.path.join(directory, 'fail2ban.sock'), ['sshd', 'sshd-cluster'])
        self.addCleanup(f2b.close)
        injected = api.inject(record('192.0.2.10', node='node-b'))
        end = rfc3339(bs.parse_time(injected['spec']['bannedAt']) + 3600)
        with open(os.path.join(directory, 'token'), 'w') as f:
            f.write('token-a')
        env = dict(os.environ, NODE_NAME='node-a', NAMESPACE=NAMESPACE, BAN_GROUP=GROUP, KUBERNETES_API=api.url,
                   TOKEN_FILE=os.path.join(directory, 'token'), CA_FILE='/nonexistent', F2B_SOCKET=f2b.path,
                   OUTBOX=os.path.join(directory, 'outbox'), STATUS_FILE=os.path.join(directory, 'alive'),
                   STATE_FILE=os.path.join(directory, 'state.json'),
                   SHARED_JAILS=json.dumps({'sshd': {'mirror': 'sshd-cluster', 'maxBanTime': 86400}}),
                   NEVER_BAN='198.51.100.0/24', RATE_LIMIT='10', REPUBLISH_SECONDS='60', PYTHONUNBUFFERED='1')
        process = subprocess.Popen([sys.executable, bs.__file__], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: '192.0.2.10' in f2b.banned('sshd-cluster'), what='the mirror ban')
            self.assertTrue(os.path.exists(env['STATUS_FILE']))
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=5)[0]
        finally:
            process.kill()
            process.wait()
        self.assertEqual(process.returncode, 0, output)
        self.assertLess(time.monotonic() - started, 2)
        lines = output.splitlines()
        self.assertTrue(lines[0].startswith('ban-sharing: started on node-a: jails sshd'), output)
        self.assertIn(f'ban-sharing: state file {env["STATE_FILE"]} does not exist yet: starting empty\n', output)
        self.assertIn(f'ban-sharing: applied sshd 192.0.2.10 from node-b until {end}\n', output)
        self.assertEqual(lines[-1], 'ban-sharing: stopped')


@unittest.skipUnless(shutil.which('fail2ban-server'), 'fail2ban-server is not installed')
class RealFail2banTest(unittest.TestCase):
    """The socket commands and the --with-time format against a real fail2ban-server 1.0.2 (dummy action)."""

    def test_commands_and_banlist_format(self):
        directory = tempfile.mkdtemp(prefix='ban-sharing-f2b-')
        self.addCleanup(shutil.rmtree, directory)
        conf = os.path.join(directory, 'conf')
        shutil.copytree('/etc/fail2ban', conf, ignore=shutil.ignore_patterns('jail.d', 'jail.local'))
        os.mkdir(os.path.join(conf, 'jail.d'))
        sock, logfile = os.path.join(directory, 'fail2ban.sock'), os.path.join(directory, 'sshd.log')
        open(logfile, 'w').close()
        with open(os.path.join(conf, 'fail2ban.local'), 'w') as f:
            f.write(f'[Definition]\nsocket = {sock}\npidfile = {directory}/fail2ban.pid\n'
                    f'logtarget = {directory}/fail2ban.log\ndbfile = :memory:\n')
        with open(os.path.join(conf, 'jail.d', 'jail.local'), 'w') as f:
            f.write(f'[DEFAULT]\nbackend = polling\naction = dummy[target="{directory}/dummy"]\n'
                    f'[sshd]\nenabled = true\nlogpath = {logfile}\nbantime = 1d\n'
                    '[sshd-cluster]\nenabled = true\nfilter =\nbantime = 1d\n')
        tz = 'America/New_York'
        server = subprocess.Popen(['fail2ban-server', '-f', '-x', '-c', conf, 'start'], env=dict(os.environ, TZ=tz),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = bs.Fail2ban(sock, timeout=5)

        def stop():
            try:
                client.command('stop')
            except bs.F2bError:
                pass
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        self.addCleanup(stop)

        def ready():
            try:
                return client.command('status', 'sshd-cluster')
            except bs.F2bError:
                return None
        wait_for(ready, timeout=8, what='fail2ban-server')
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 1)
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 0)
        self.assertEqual(client.command('get', 'sshd-cluster', 'banip'), ['192.0.2.10'])
        self.assertEqual(client.command('set', 'sshd-cluster', 'unbanip', '192.0.2.10'), 1)
        self.assertEqual(client.command('set', 'sshd-cluster', 'unbanip', '192.0.2.10'), 0)
        with self.assertRaises(bs.F2bError):
            client.command('set', 'nginx-cluster', 'banip', '192.0.2.10')
        client.command('set', 'sshd', 'banip', '192.0.2.20', '2001:db8::20')
        client.command('set', 'sshd', 'bantime', '-1')
        client.command('set', 'sshd', 'banip', '203.0.113.20')
        lines = client.command('get', 'sshd', 'banip', '--with-time')
        self.assertRegex(lines[0], r'^192\.0\.2\.20 \t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+ -1 = 9999-12-31 23:59:59$')
        client.command('set', 'sshd', 'bantime', '86400')  # a ticket without its own bantime follows the jail's
        lines = client.command('get', 'sshd', 'banip', '--with-time')
        with local_timezone(tz):
            bans = bs.parse_banlist(lines)
        self.assertEqual([(ip, bt) for ip, _, bt in bans], [('192.0.2.20', 86400), ('2001:db8::20', 86400),
                                                             ('203.0.113.20', 86400)], lines)
        for _, start, _ in bans:
            self.assertLess(abs(start - time.time()), 10, lines)


if __name__ == '__main__':
    unittest.main()
