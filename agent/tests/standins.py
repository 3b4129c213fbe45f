"""Stand-ins for the node agent's tests: fail2ban's socket (FakeFail2ban, real CSocket protocol), the Kubernetes API
(FakeApi, real HTTP), a clock the tests move, and helpers. Addresses are documentation ranges only."""

import contextlib
import ipaddress
import json
import os
import pickle
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

from agent import broker, records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
OPERATOR_BANS = f'/apis/{GROUP}/v1/namespaces/{NAMESPACE}/operatorbans'
NODES = f'/apis/{GROUP}/v1/namespaces/{NAMESPACE}/fail2bannodes'
SHARED = {'sshd': records.SharedJail('sshd-cluster', 86400)}
NEVER_BAN = [ipaddress.ip_network('198.51.100.0/24'), ipaddress.ip_network('2001:db8:ffff::/48')]
TOKENS = {'token-a': 'node-a', 'token-a2': 'node-a', 'token-b': 'node-b', 'token-c': 'node-c'}
ADMIN = 'admin-token'
MANAGER = 'manager-token'  # the ban manager: operatorbans read and written, fail2bannodes read, no bans
END, CLOSE = b'<F2B_END_COMMAND>', b'<F2B_CLOSE_COMMAND>'


def name_of(jail, ip, node='node-b'):
    """The name a writer gives `node`'s record of `ip` as written, canonical or not."""
    return records.spelled_name(jail, ip, node)


def rfc3339(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def record(ip, node='node-b', jail='sshd', banned_at=None, ban_time=3600, name=None, rv='1'):
    banned_at = int(time.time()) - 10 if banned_at is None else banned_at
    return {'apiVersion': f'{GROUP}/v1', 'kind': 'Ban',
            'metadata': {'name': name or name_of(jail, ip, node), 'namespace': NAMESPACE, 'resourceVersion': rv,
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
    """The stand-in Kubernetes API that the TypeScript labs use too (test/harness/fake-kube-api.ts), run as a process of
    its own (scripts/kube-api-standin.js): bearer tokens, RBAC, the CRD's schema and CEL rules (422), the admission
    policy (403), conflicts (409), compacted WATCH history (410) and BOOKMARKs. This class starts it and reads and
    changes directly what a test needs; it stops when the test closes it (or the test process ends)."""

    def __init__(self, tls=None):
        """`tls`: (certificate PEM, key PEM) to serve HTTPS, as the real API does."""
        identities = {token: {'username': f'system:serviceaccount:{NAMESPACE}:fail2ban', 'node': node}
                      for token, node in TOKENS.items()}
        options = {'group': GROUP, 'namespace': NAMESPACE, 'bookmarkMs': 300,
                   'tokens': {ADMIN: {'username': 'kubernetes-admin', 'admin': True},
                              MANAGER: {'username': 'ban-manager', 'banManager': True}, **identities}}
        if tls:
            options['tls'] = {'cert': tls[0], 'key': tls[1]}
        # NODE_EXTRA_CA_CERTS, set on some machines, makes every Node start-up read a CA bundle; it makes no TLS calls.
        env = {key: value for key, value in os.environ.items() if key != 'NODE_EXTRA_CA_CERTS'}
        self.process = subprocess.Popen(['node', os.path.join(ROOT, 'scripts', 'kube-api-standin.js'), json.dumps(options)],
                                        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started = self.process.stdout.readline()
        if not started:
            raise RuntimeError(f'the stand-in API did not start (exit {self.process.wait()})')
        addresses = json.loads(started)
        self.url, self.control = addresses['url'], addresses['control']

    def close(self):
        self.process.stdin.close()  # it exits when its standard input closes
        self.process.wait(30)
        self.process.stdout.close()

    def _control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.control + path, data=data, method=method,
                                         headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    @property
    def requests(self):
        """Every request the agent made, in order of completion: method, path, query, token, body, status."""
        return self._control('GET', '/requests')

    @property
    def objects(self):
        """The stored records by name."""
        return self._control('GET', '/objects')

    def objects_of(self, resource):
        """The stored objects of `resource` ('bans', 'operatorbans', 'fail2bannodes') by name."""
        return self._control('GET', f'/objects?resource={resource}')

    def call(self, method, path, body=None, token=ADMIN):
        """A request as a client with `token` makes it (an administrator's by default): (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={'Authorization': f'Bearer {token}', 'X-From-Test': '1',
                                                  'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def calls(self, method, path_prefix=COLLECTION, watch=False):
        return [r for r in self.requests if r['method'] == method and r['path'].startswith(path_prefix)
                and ('watch' in r['query']) == watch]

    def reset(self):
        """Empty, as if just started: no records, no history, no requests, no WATCH left open."""
        self._control('POST', '/reset', {})

    def inject(self, obj):
        """Stores a record as is (no checks), in the collection of its kind: what a buggy or hostile writer could
        leave behind."""
        return self._control('POST', '/inject', obj)

    def delete(self, name, token=ADMIN):
        """A DELETE as a client with `token` makes it (an administrator's by default); returns the HTTP status."""
        request = urllib.request.Request(f'{self.url}{COLLECTION}/{name}', method='DELETE',
                                         headers={'Authorization': f'Bearer {token}', 'X-From-Test': '1'})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def admin_delete(self, name):
        status = self.delete(name)
        if status != 200:
            raise AssertionError(f'DELETE {name} as the administrator: HTTP {status}')

    def expire(self, remove=(), resource='bans'):
        """The watch cache moves on: `remove` disappears without an event, every WATCH ends, a re-watch gets 410."""
        self._control('POST', '/expire', {'remove': list(remove), 'resource': resource})

    @property
    def expired_as_status(self):
        raise AttributeError('write-only')

    @expired_as_status.setter
    def expired_as_status(self, on):
        """410 as an HTTP status instead of an ERROR event in the stream (the API server does both)."""
        self._control('POST', '/expired-as-status', {'on': on})


class FakeFail2ban:
    """fail2ban's socket protocol (pickled command list, <F2B_END_COMMAND>), for the commands the agent sends;
    answers like fail2ban 1.0.2 (1/0 for banip/unbanip, "IP \\tstart + bantime = end" lines in local time)."""

    def __init__(self, path, jails):
        self.path, self.bans, self.commands = path, {jail: {} for jail in jails}, []
        self.refusing = set()  # commands (tuples) answered with an error, as a fail2ban that is stopping answers
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
            if tuple(command) in self.refusing:
                return 1, RuntimeError(f'refused {command!r}')
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


# ------------------------------------------------------------------------------------------------- the broker

# As the chart grants them: an origin jail is listed and unbanned, a mirror or operator jail banned too.
BROKER_JAILS = {'sshd': ['get', 'unban'], 'sshd-cluster': ['get', 'ban', 'unban'],
                'sshd-operator': ['get', 'ban', 'unban']}


class InProcessBroker:
    """The real broker (agent/broker.py) on threads of this process, in front of fail2ban's socket `f2b_path`;
    what it logs goes to `logs`."""

    def __init__(self, path, f2b_path, jails=BROKER_JAILS, never_ban=NEVER_BAN, pod_logs=None):
        self.path, self.logs = path, []
        self.server = broker.Server(path, broker.Broker(f2b_path, jails, never_ban, log=self.logs.append, pod_logs=pod_logs))
        threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
