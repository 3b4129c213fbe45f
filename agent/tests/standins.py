"""Stand-ins for the node agent's tests: fail2ban's socket (FakeFail2ban, real CSocket protocol), the Kubernetes API
(FakeApi, real HTTP), a clock the tests move, and helpers. Addresses are documentation ranges only."""

import contextlib
import copy
import http.server
import ipaddress
import json
import os
import pickle
import socket
import threading
import time
import urllib.parse
import uuid
from agent import records



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
SHARED = {'sshd': records.SharedJail('sshd-cluster', 86400)}
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
                        or not records.later(end_of(new), end_of(old)) and end_of(new) != end_of(old)):
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
    return None if spec['banTime'] < 0 else records.parse_time(spec['bannedAt']) + spec['banTime']


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
