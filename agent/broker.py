"""`python3 -m agent.broker`: the only holder of fail2ban's socket (docs/operator-bans.md, "The broker").

fail2ban's socket also takes `set JAIL addaction …` and `set JAIL action … actionban CMD`: root code execution. The
agent, which holds the API token, runs without it and asks this process instead, one JSON array per line, for
four ban commands: list a jail's bans (with or without their times), ban or unban one address; for the
pod-log jails (POD_LOGS), three more: list, add and remove the jail's log files; and, for the metrics, reads of
counts and settings (version, the jails' names, a jail's short status and its bantime, findtime and maxretry), and
which fail2ban server answers (`generation`, answered by the broker itself). Each is checked again here (the jail
and operation against BROKER_JAILS, one canonical address, never a never-ban address for a ban; a log file of the
jail's pods under the kubelet's directory, by the agent's own rule) before it reaches fail2ban; anything else is
refused and logged.
"""

import ipaddress
import json
import os
import signal
import socketserver
import stat
import sys

# fail2ban's own socket client: the broker runs in fail2ban's image (crazymax/fail2ban, Alpine); the tests import
# it from Debian's fail2ban package, which is all they have.
from fail2ban.client.csocket import CSocket

from .bounded import BoundedThreadingMixIn
from .pod_logs import PodLogJails
from .records import address_refusal, canonical_ip

OPERATIONS = ('get', 'ban', 'unban')
MAX_LINE = 1024  # bytes of one request, without its newline; the longest, a log file path, needs at most half
EXCERPT = 100  # characters of a refused request in a log line or an error: enough to recognise it
IDLE_SECONDS = 10  # a client that stops sending or reading loses its connection
F2B_TIMEOUT = 10  # below the agent's own timeout, so that a slow fail2ban is reported as such
MAX_CONNECTIONS = 8  # the agent's threads need two or three at once


def log(message):
    print(f'broker: {message}', flush=True)


class Refused(Exception):
    pass


def parse_jails(text):
    """BROKER_JAILS: {"sshd": ["get", "unban"], "sshd-operator": ["get", "ban", "unban"]}."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError('BROKER_JAILS is not a JSON object')
    for jail, operations in data.items():
        if not jail or not isinstance(operations, list) or not all(op in OPERATIONS for op in operations):
            raise ValueError(f'BROKER_JAILS[{jail!r}] is not a list of {", ".join(OPERATIONS)}')
    return {jail: frozenset(operations) for jail, operations in data.items()}


def excerpt(line):
    """The start of a request as received, control characters escaped: safe in one log line."""
    text = line[:EXCERPT].decode('utf-8', 'backslashreplace').encode('unicode_escape').decode('ascii')
    return text[:EXCERPT] + ('...' if len(line) > EXCERPT or len(text) > EXCERPT else '')


class Broker:
    """The checks and fail2ban's socket; `jails` maps a jail to its allowed operations, `never_ban` is ip_networks."""

    def __init__(self, f2b_path, jails, never_ban, log=log, timeout=F2B_TIMEOUT, pod_logs=None):
        self.f2b_path, self.jails, self.never_ban = f2b_path, jails, never_ban
        self.log, self.timeout = log, timeout
        self.pod_logs = pod_logs or PodLogJails('', {})

    def answer(self, line):
        """The reply to one request line (without its newline)."""
        try:
            command = self.check(line)
        except Refused as refusal:
            return self.refuse(line, str(refusal))
        return self.generation() if command == ['generation'] else self.forward(command)

    def generation(self):
        """Which fail2ban server answers: its socket's identity, new at each start of fail2ban (it binds a new one).
        The broker's own answer, for the metrics (agent/metrics.py): totals start again with each server."""
        try:
            st = os.stat(self.f2b_path)
        except OSError as error:
            return {'ok': False, 'error': f'cannot connect to {self.f2b_path}: {error}'}
        return {'ok': True, 'result': f'{st.st_dev}:{st.st_ino}:{st.st_ctime_ns}'}

    def refuse(self, line, reason):
        what = f'refused "{excerpt(line)}": {reason}'
        self.log(what)
        return {'ok': False, 'error': what}

    def check(self, line):
        """The command to send to fail2ban, or Refused."""
        try:
            request = json.loads(line.decode('utf-8'))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep to parse
            raise Refused('not one JSON array') from None
        if request in (['generation'], ['version'], ['status']):  # the metrics' snapshot: which server, its version and jails
            return request
        if not isinstance(request, list) or len(request) < 3 or not all(type(part) is str for part in request):
            raise Refused('not a JSON array of at least three strings')
        verb, jail, rest = request[0], request[1], request[2:]
        if (verb == 'status' and rest == ['short']) or (verb == 'get' and rest in (['bantime'], ['findtime'], ['maxretry'])):
            operation = None  # a jail's counts and settings, without its addresses (short): any jail of BROKER_JAILS
        elif verb == 'get' and rest in (['banip'], ['banip', '--with-time']):
            operation = 'get'
        elif verb == 'set' and len(rest) == 2 and rest[0] in ('banip', 'unbanip'):
            operation = 'ban' if rest[0] == 'banip' else 'unban'
        elif (verb == 'get' and rest == ['logpath']) or (verb == 'set' and rest[:1] == ['dellogpath'] and len(rest) == 2) \
                or (verb == 'set' and rest[:1] == ['addlogpath'] and len(rest) == 3 and rest[2] == 'head'):
            return self.check_log_files(jail, rest[1:2], request)
        else:
            raise Refused('not one of get JAIL banip [--with-time], set JAIL banip IP, set JAIL unbanip IP, '
                          'get JAIL logpath, set JAIL addlogpath PATH head, set JAIL dellogpath PATH, '
                          'generation, version, status, status JAIL short, get JAIL bantime|findtime|maxretry')
        if jail not in self.jails:
            raise Refused('the jail is not in BROKER_JAILS')
        if operation is not None and operation not in self.jails[jail]:
            raise Refused(f'{operation} is not allowed in {jail}')
        if operation in ('ban', 'unban'):
            address = canonical_ip(rest[1])
            if address is None:
                raise Refused('not one address in canonical form')
            if address.version == 6 and address.ipv4_mapped:  # fail2ban and nftables hold the IPv4 address
                raise Refused('an IPv4-mapped address')
            reason = address_refusal(address, self.never_ban) if operation == 'ban' else None
            if reason:
                raise Refused(f'{address} is never banned: {reason}')
        return request

    def check_log_files(self, jail, paths, request):
        """A pod-log jail's files: only that jail's, only its pods' container logs."""
        if jail not in self.pod_logs.jails:
            raise Refused('the jail reads no pod logs (POD_LOGS)')
        if paths and not self.pod_logs.allows(jail, paths[0]):
            raise Refused(f"not a container log file of {jail}'s pods under {self.pod_logs.directory}")
        refusal = self.pod_logs.refusal(paths[0]) if request[2] == 'addlogpath' else None
        if refusal:
            raise Refused(refusal)
        return request

    def forward(self, command):
        try:
            client = CSocket(self.f2b_path, timeout=self.timeout)
        except OSError as error:
            return {'ok': False, 'error': f'cannot connect to {self.f2b_path}: {error}'}
        try:
            code, result = client.send(command)
        except Exception as error:  # whatever the socket or the unpickling raised: fail2ban did not answer
            return {'ok': False, 'error': f'{" ".join(command)}: {error}'}
        finally:
            client.close()
        if code != 0:
            return {'ok': False, 'error': f'{" ".join(command)}: {result!r}'}
        return {'ok': True, 'result': result}


class Connection(socketserver.StreamRequestHandler):
    timeout = IDLE_SECONDS

    def handle(self):
        try:
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line.endswith(b'\n'):
                    if len(line) > MAX_LINE:  # and where the next request starts is unknown: the connection ends
                        self.reply(self.server.broker.refuse(line, f'a line over {MAX_LINE} bytes'))
                    return
                self.reply(self.server.broker.answer(line[:-1]))
        except OSError:  # the client went away or stayed idle too long
            pass

    def reply(self, answer):
        # fail2ban's addresses are IPAddr, a str subclass; anything else it may answer is given as its text
        self.wfile.write(json.dumps(answer, default=str).encode() + b'\n')


class Server(BoundedThreadingMixIn, socketserver.UnixStreamServer):
    """The broker's socket, mode 0660, its group the agent's: the broker container runs as root with runAsGroup
    10001, the agent's uid and gid (the pod sets no fsGroup), and bind() gives the file the process's group. A thread
    per connection, MAX_CONNECTIONS at most."""

    max_connections = MAX_CONNECTIONS

    def __init__(self, path, broker):
        self.broker = broker
        super().__init__(path, Connection)

    def refused(self):
        self.broker.log(f'refused a connection: {MAX_CONNECTIONS} are open')

    def server_bind(self):
        try:
            if stat.S_ISSOCK(os.lstat(self.server_address).st_mode):
                os.unlink(self.server_address)  # left by a broker that did not stop cleanly
        except FileNotFoundError:
            pass
        # bind() creates the file with the umask's mode: 0660 from the start, never connectable by others, not even
        # until a chmod. The umask is the whole process's: this runs before any thread of the broker creates files.
        mask = os.umask(0o117)
        try:
            super().server_bind()
        finally:
            os.umask(mask)


def main():
    env = os.environ
    try:
        jails = parse_jails(env.get('BROKER_JAILS', '{}'))
        pod_logs = PodLogJails.parse(env.get('POD_LOGS', ''))
        never_ban = [ipaddress.ip_network(n, strict=False) for n in env.get('NEVER_BAN', '').split()]
    except ValueError as error:
        log(f'error: configuration: {error}')
        return 2
    path = env.get('BROKER_SOCKET', '/var/run/node-agent/broker.sock')
    try:
        server = Server(path, Broker(env.get('F2B_SOCKET', '/var/run/fail2ban/fail2ban.sock'), jails, never_ban, pod_logs=pod_logs))
    except OSError as error:
        log(f'error: cannot listen on {path}: {error}')
        return 1
    # PID 1 of its container: without a handler, SIGTERM would be ignored until the kubelet's SIGKILL
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    operations = {jail: sorted(ops) + (['logpath'] if jail in pod_logs.jails else []) for jail, ops in jails.items()}
    log(f'listening on {path}: ' + ', '.join(f'{jail} ({" ".join(ops)})' for jail, ops in sorted(operations.items())))
    if not never_ban:
        log('warning: NEVER_BAN is empty')
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == '__main__':
    sys.exit(main())
