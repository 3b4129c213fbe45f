"""The broker (agent/broker.py): what reaches fail2ban (FakeFail2ban, and a real fail2ban-server 1.0.2) and what
never does. A refusal counts only if fail2ban never saw the command: an error from fail2ban is no refusal."""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from fail2ban.client.csocket import CSocket

from agent import broker, f2b_socket, formats
from agent.tests.standins import BROKER_JAILS, FakeFail2ban, InProcessBroker, local_timezone, wait_for

HANG = 30  # seconds: a hang detector, not a speed limit


def line(command):
    return json.dumps(command).encode() + b'\n'


def exchange(path, *lines):
    """Sends `lines` (bytes, newlines included) on one connection and half-closes it: every reply, parsed."""
    replies = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(HANG)
        conn.connect(path)
        try:  # the broker may end the connection before reading every request, or any
            conn.sendall(b''.join(lines))
            conn.shutdown(socket.SHUT_WR)
        except BrokenPipeError:
            pass
        with conn.makefile('rb') as answers:
            try:
                replies.extend(json.loads(answer) for answer in answers)
            except ConnectionResetError:
                pass
    return replies


class BrokerTest(unittest.TestCase):
    """The real broker in front of FakeFail2ban (real CSocket protocol), with the agent tests' BROKER_JAILS and
    NEVER_BAN (198.51.100.0/24, 2001:db8:ffff::/48)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='broker-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.f2b = FakeFail2ban(os.path.join(self.dir, 'fail2ban.sock'), ['sshd', 'sshd-cluster', 'sshd-operator'])
        self.addCleanup(self.f2b.close)
        self.broker = InProcessBroker(os.path.join(self.dir, 'broker.sock'), self.f2b.path)
        self.addCleanup(self.broker.close)

    def commands(self):
        with self.f2b.lock:
            return list(self.f2b.commands)

    def assert_refused(self, *lines, reason=''):
        """Each line (one connection) is refused with `reason`, logged once, and fail2ban sees none of them."""
        logged, seen = len(self.broker.logs), self.commands()
        replies = exchange(self.broker.path, *lines)
        self.assertEqual(len(replies), len(lines))
        for reply in replies:
            self.assertFalse(reply['ok'], reply)
            self.assertRegex(reply['error'], r'^refused ".*": ')
            self.assertIn(reason, reply['error'])
        self.assertEqual(self.commands(), seen)
        self.assertEqual([entry.startswith('refused "') for entry in self.broker.logs[logged:]], [True] * len(lines))

    def test_valid_commands_reach_fail2ban_several_on_one_connection(self):
        commands = [['set', 'sshd-operator', 'banip', '203.0.113.5'], ['set', 'sshd-operator', 'banip', '2001:db8::5'],
                    ['get', 'sshd-operator', 'banip'], ['get', 'sshd-operator', 'banip', '--with-time'],
                    ['set', 'sshd', 'unbanip', '203.0.113.5'], ['set', 'sshd-operator', 'unbanip', '203.0.113.5'],
                    ['get', 'sshd', 'banip']]
        replies = exchange(self.broker.path, *map(line, commands))
        self.assertEqual(replies[:3], [{'ok': True, 'result': 1}, {'ok': True, 'result': 1},
                                       {'ok': True, 'result': ['203.0.113.5', '2001:db8::5']}])
        self.assertEqual([entry.split(' \t')[0] for entry in replies[3]['result']], ['203.0.113.5', '2001:db8::5'])
        self.assertEqual(replies[4:], [{'ok': True, 'result': 0}, {'ok': True, 'result': 1}, {'ok': True, 'result': []}])
        self.assertEqual(self.commands(), commands)
        self.assertEqual(self.f2b.banned('sshd-operator'), {'2001:db8::5'})
        self.assertEqual(self.broker.logs, [])

    def test_the_agents_client_gets_fail2bans_answers_and_every_error_as_F2bError(self):
        client = f2b_socket.Fail2ban(self.broker.path)
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 1)
        self.assertEqual(client.command('get', 'sshd-cluster', 'banip'), ['192.0.2.10'])
        with self.assertRaisesRegex(f2b_socket.F2bError, r'^refused ".*": ban is not allowed in sshd$'):
            client.command('set', 'sshd', 'banip', '192.0.2.10')
        no_fail2ban = InProcessBroker(os.path.join(self.dir, 'other.sock'), os.path.join(self.dir, 'none.sock'))
        self.addCleanup(no_fail2ban.close)
        with self.assertRaisesRegex(f2b_socket.F2bError, r'^cannot connect to .*none\.sock: '):
            f2b_socket.Fail2ban(no_fail2ban.path).command('get', 'sshd-cluster', 'banip')
        self.broker.close()
        with self.assertRaisesRegex(f2b_socket.F2bError, r'^cannot connect to .*broker\.sock: '):
            client.command('get', 'sshd-cluster', 'banip')

    def test_an_error_of_fail2ban_is_a_reply_not_a_refusal(self):
        other = InProcessBroker(os.path.join(self.dir, 'other.sock'), self.f2b.path, {'nginx': ['get']})
        self.addCleanup(other.close)
        [reply] = exchange(other.path, line(['get', 'nginx', 'banip']))
        self.assertEqual(reply, {'ok': False, 'error': "get nginx banip: ValueError(\"unknown jail or command "
                                                      "['get', 'nginx', 'banip']\")"})
        self.assertEqual(other.logs, [])

    def test_refuses_addaction(self):
        self.assert_refused(line(['set', 'sshd', 'addaction', 'x', '/tmp/x.py', '{}']),
                            line(['set', 'sshd-operator', 'addaction', 'x']), reason='not one of get JAIL banip')

    def test_refuses_setting_an_actions_command(self):
        self.assert_refused(line(['set', 'sshd', 'action', 'iptables', 'actionban', 'touch /tmp/pwned']),
                            line(['set', 'sshd-operator', 'action', 'dummy', 'actionban', 'touch /tmp/pwned']),
                            line(['set', 'sshd-operator', 'bantime', '-1']), line(['stop']), line(['unban', '--all']))

    def test_refuses_an_operation_the_jail_is_not_allowed(self):
        self.assert_refused(line(['set', 'sshd', 'banip', '203.0.113.5']), reason='ban is not allowed in sshd')
        limited = InProcessBroker(os.path.join(self.dir, 'limited.sock'), self.f2b.path, {'sshd': ['get']})
        self.addCleanup(limited.close)
        [reply] = exchange(limited.path, line(['set', 'sshd', 'unbanip', '203.0.113.5']))
        self.assertEqual(reply['error'], 'refused "["set", "sshd", "unbanip", "203.0.113.5"]": unban is not allowed in sshd')
        self.assertEqual(self.commands(), [])

    def test_refuses_a_jail_not_in_BROKER_JAILS(self):
        self.assertNotIn('nginx', BROKER_JAILS)
        self.assert_refused(line(['get', 'nginx', 'banip']), line(['set', 'nginx', 'unbanip', '203.0.113.5']),
                            line(['set', 'SSHD-operator', 'banip', '203.0.113.5']),
                            line(['set', 'sshd-operator ', 'banip', '203.0.113.5']), reason='not in BROKER_JAILS')

    def test_refuses_to_ban_a_never_ban_address_but_unbans_it(self):
        self.assert_refused(line(['set', 'sshd-operator', 'banip', '127.0.0.1']),
                            line(['set', 'sshd-operator', 'banip', '::1']), reason='loopback address')
        self.assert_refused(line(['set', 'sshd-operator', 'banip', '198.51.100.7']),
                            reason='198.51.100.7 is never banned: inside NEVER_BAN 198.51.100.0/24')
        self.assert_refused(line(['set', 'sshd-cluster', 'banip', '2001:db8:ffff::7']),
                            reason='inside NEVER_BAN 2001:db8:ffff::/48')
        # an unban lifts what an older configuration let through
        self.assertEqual(exchange(self.broker.path, line(['set', 'sshd-operator', 'unbanip', '198.51.100.7'])),
                         [{'ok': True, 'result': 0}])

    def test_refuses_anything_but_one_address_in_canonical_form(self):
        spellings = ['203.0.113.5\n', '203.0.113.5 ', ' 203.0.113.5', '203.0.113.5 203.0.113.6', '203.0.113.5,203.0.113.6',
                     '203.0.113.0/24', '203.000.113.5', '2001:DB8::5', '2001:db8:0::5', '2001:db8::5%eth0', 'localhost', '']
        for op in ('banip', 'unbanip'):
            self.assert_refused(*[line(['set', 'sshd-operator', op, ip]) for ip in spellings],
                                reason='not one address in canonical form')
            # Python before 3.13 writes ::ffff:203.0.113.5 as ::ffff:cb00:7105, 3.13 as is: refused either way, as
            # fail2ban and nftables hold the IPv4 address
            self.assert_refused(line(['set', 'sshd-operator', op, '::ffff:203.0.113.5']),
                                line(['set', 'sshd-operator', op, '::ffff:cb00:7105']))
        self.assert_refused(line(['set', 'sshd-operator', 'unbanip', '::ffff:cb00:7105']), reason='IPv4-mapped')
        self.assert_refused(line(['set', 'sshd-operator', 'banip', '203.0.113.5', '203.0.113.6']),
                            line(['set', 'sshd-operator', 'banip', 3405803781]))

    def test_refuses_a_line_over_1_KiB_and_ends_the_connection(self):
        def padded(size):
            text = json.dumps(['get', 'sshd', 'banip'])
            return (text[:-1] + ' ' * (size - len(text)) + ']').encode() + b'\n'
        self.assertEqual(exchange(self.broker.path, padded(1024)), [{'ok': True, 'result': []}])
        self.assert_refused(padded(1025), reason='a line over 1024 bytes')
        seen = self.commands()
        replies = exchange(self.broker.path, padded(2048), line(['get', 'sshd', 'banip']))
        self.assertEqual(len(replies), 1)  # the second request is never read
        self.assertIn('a line over 1024 bytes', replies[0]['error'])
        self.assertEqual(self.commands(), seen)

    def test_refuses_what_is_not_one_JSON_array_of_strings(self):
        self.assert_refused(b'set sshd-operator banip 203.0.113.5\n', b'\xff["get", "sshd", "banip"]\n',
                            b'["set", "sshd-operator", "banip", "203.0.113.5"\n', b'"]\n',
                            b'["get", "sshd", "banip"] ["get", "sshd", "banip"]\n', b'\n',
                            b'[' * 1020 + b'\n', reason='not one JSON array')  # too deep to parse
        self.assert_refused(b'{"get": ["sshd", "banip"]}\n', b'["get", "sshd"]\n', b'["get", "sshd", "banip", null]\n',
                            b'["get", ["sshd"], "banip"]\n', reason='not a JSON array of at least three strings')
        self.assert_refused(line(['get', 'sshd', 'banip', '--with-time', 'x']), line(['get', 'sshd', 'banned']),
                            line(['GET', 'sshd', 'banip']), reason='not one of get JAIL banip')

    def test_a_refused_request_is_logged_escaped_and_shortened(self):
        self.assert_refused(b'["get", "sshd\x1b[2J\r\x00", "banip"]\n', line(['get', 'x' * 900, 'banip']))
        self.assertIn('sshd\\x1b[2J\\r\\x00', self.broker.logs[0])
        for entry in self.broker.logs:
            self.assertFalse([c for c in entry if ord(c) < 32 or ord(c) == 127], entry)
            self.assertLess(len(entry), 200)
        self.assertTrue(self.broker.logs[1].startswith('refused "["get", "xxxxx'))

    def test_the_socket_is_0660_and_replaces_a_stale_one(self):
        mode = os.stat(self.broker.path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o660)
        path = os.path.join(self.dir, 'stale.sock')
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
            stale.bind(path)  # and never unlinked: what a killed broker leaves
        mask = os.umask(0o002)
        try:
            again = InProcessBroker(path, self.f2b.path)
            self.addCleanup(again.close)
            self.assertEqual(os.umask(0o002), 0o002)  # the process's umask is back
        finally:
            os.umask(mask)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o660)
        self.assertEqual(exchange(path, line(['get', 'sshd', 'banip'])), [{'ok': True, 'result': []}])
        other = os.path.join(self.dir, 'not-a-socket')
        open(other, 'w').close()
        with self.assertRaises(OSError):
            InProcessBroker(other, self.f2b.path)
        self.assertTrue(os.path.isfile(other))

    def connect(self):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(conn.close)
        conn.settimeout(HANG)
        conn.connect(self.broker.path)
        return conn

    def test_an_idle_connection_is_closed(self):
        with mock.patch.object(broker.Connection, 'timeout', 0.2):
            self.assertEqual(self.connect().recv(1), b'')
        self.assertEqual(self.broker.logs, [])  # served, then closed: not refused

    def test_at_most_MAX_CONNECTIONS_are_open_at_once(self):
        held = []
        for _ in range(broker.MAX_CONNECTIONS):
            conn = self.connect()
            conn.sendall(line(['get', 'sshd', 'banip']))
            self.assertTrue(conn.recv(4096))  # its reply: its thread holds a slot
            held.append(conn)
        self.assertEqual(self.connect().recv(1), b'')
        self.assertEqual(self.broker.logs, [f'refused a connection: {broker.MAX_CONNECTIONS} are open'])
        held.pop().close()
        wait_for(lambda: exchange(self.broker.path, line(['get', 'sshd', 'banip'])), HANG, 'a free slot')


class BrokerProcessTest(unittest.TestCase):
    """`python3 -m agent.broker` as its container runs it: configured by its environment, stopped by SIGTERM."""

    def run_broker(self, **env):
        directory = tempfile.mkdtemp(prefix='broker-')
        self.addCleanup(shutil.rmtree, directory)
        env = {**os.environ, 'F2B_SOCKET': os.path.join(directory, 'fail2ban.sock'),
               'BROKER_SOCKET': os.path.join(directory, 'broker.sock'), 'BROKER_JAILS': json.dumps(BROKER_JAILS),
               'NEVER_BAN': '198.51.100.0/24', **env}
        process = subprocess.Popen([sys.executable, '-m', 'agent.broker'], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=os.path.dirname(os.path.dirname(broker.__file__)))
        self.addCleanup(process.wait)
        self.addCleanup(process.kill)
        self.addCleanup(process.stdout.close)
        return process, env

    def test_environment_and_sigterm(self):
        process, env = self.run_broker()
        f2b = FakeFail2ban(env['F2B_SOCKET'], ['sshd-operator'])
        self.addCleanup(f2b.close)
        started = process.stdout.readline()  # once it listens
        self.assertEqual(stat.S_IMODE(os.stat(env['BROKER_SOCKET']).st_mode), 0o660)
        client = f2b_socket.Fail2ban(env['BROKER_SOCKET'])
        self.assertEqual(client.command('set', 'sshd-operator', 'banip', '203.0.113.5'), 1)
        with self.assertRaises(f2b_socket.F2bError):
            client.command('set', 'sshd-operator', 'banip', '198.51.100.5')
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=HANG)[0]
        self.assertEqual(process.returncode, 0, output)
        self.assertEqual([started.rstrip('\n')] + output.splitlines(), [
            f'broker: listening on {env["BROKER_SOCKET"]}: sshd (get unban), sshd-cluster (ban get unban), '
            'sshd-operator (ban get unban)',
            'broker: refused "["set", "sshd-operator", "banip", "198.51.100.5"]": '
            '198.51.100.5 is never banned: inside NEVER_BAN 198.51.100.0/24'])

    def test_a_wrong_BROKER_JAILS_stops_it(self):
        for jails in ('[]', '{"sshd": ["get", "addaction"]}', '{"sshd": "get"}', '{"": ["get"]}', 'sshd'):
            process, _ = self.run_broker(BROKER_JAILS=jails)
            output = process.communicate(timeout=HANG)[0]
            self.assertEqual(process.returncode, 2, output)
            self.assertTrue(output.startswith('broker: error: configuration: '), output)


@unittest.skipUnless(shutil.which('fail2ban-server'), 'fail2ban-server is not installed')
class BrokerRealFail2banTest(unittest.TestCase):
    """The broker in front of a real fail2ban-server 1.0.2 (dummy action, no firewall), one per class; the test
    reaches fail2ban's own socket too (`raw`), as fail2ban-client would."""

    TZ = 'America/New_York'

    @classmethod
    def setUpClass(cls):
        cls.dir = directory = tempfile.mkdtemp(prefix='broker-f2b-')
        conf = os.path.join(directory, 'conf')
        shutil.copytree('/etc/fail2ban', conf, ignore=shutil.ignore_patterns('jail.d', 'jail.local'))
        os.mkdir(os.path.join(conf, 'jail.d'))
        cls.sock, logfile = os.path.join(directory, 'fail2ban.sock'), os.path.join(directory, 'sshd.log')
        cls.dummy = os.path.join(directory, 'dummy')
        open(logfile, 'w').close()
        with open(os.path.join(conf, 'fail2ban.local'), 'w') as f:
            f.write(f'[Definition]\nsocket = {cls.sock}\npidfile = {directory}/fail2ban.pid\n'
                    f'logtarget = {directory}/fail2ban.log\ndbfile = :memory:\n')
        with open(os.path.join(conf, 'jail.d', 'jail.local'), 'w') as f:
            f.write(f'[DEFAULT]\nbackend = polling\naction = dummy[target="{cls.dummy}"]\n'
                    f'[sshd]\nenabled = true\nlogpath = {logfile}\nbantime = 1d\n'
                    '[sshd-cluster]\nenabled = true\nfilter =\nbantime = 1d\n'
                    '[sshd-operator]\nenabled = true\nfilter =\nbantime = -1\n')
        cls.server = subprocess.Popen(['fail2ban-server', '-f', '-x', '-c', conf, 'start'],
                                      env=dict(os.environ, TZ=cls.TZ), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        # nginx-cluster: allowed here, unknown to fail2ban
        cls.broker = InProcessBroker(os.path.join(directory, 'broker.sock'), cls.sock,
                                     {**BROKER_JAILS, 'nginx-cluster': ['get', 'ban', 'unban']})

        def ready():
            try:
                return cls.raw('status', 'sshd-operator')
            except Exception:  # not listening yet, or not answering yet
                return None
        try:
            wait_for(ready, HANG, 'fail2ban-server')
        except AssertionError:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.broker.close()
        try:
            cls.raw('stop')
        except (OSError, AssertionError):
            pass
        try:
            cls.server.wait(HANG)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()
        shutil.rmtree(cls.dir)

    @classmethod
    def raw(cls, *command):
        """A command on fail2ban's own socket: its answer, AssertionError if it failed."""
        client = CSocket(cls.sock, timeout=HANG)
        try:
            code, result = client.send(list(command))
        finally:
            client.close()
        if code != 0:
            raise AssertionError(f'{command}: {result!r}')
        return result

    def setUp(self):
        self.raw('unban', '--all')
        self.client = f2b_socket.Fail2ban(self.broker.path)

    def dummy_has(self, text):
        try:
            with open(self.dummy) as f:
                return text in f.read()
        except FileNotFoundError:
            return False

    def test_commands_and_banlist_format(self):
        client = self.client
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 1)
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 0)
        self.assertEqual(client.command('get', 'sshd-cluster', 'banip'), ['192.0.2.10'])
        self.assertEqual(client.command('set', 'sshd-cluster', 'unbanip', '192.0.2.10'), 1)
        self.assertEqual(client.command('set', 'sshd-cluster', 'unbanip', '192.0.2.10'), 0)
        with self.assertRaisesRegex(f2b_socket.F2bError, '^set nginx-cluster banip 192.0.2.10: '):
            client.command('set', 'nginx-cluster', 'banip', '192.0.2.10')
        self.raw('set', 'sshd', 'banip', '192.0.2.20', '2001:db8::20')  # as its filter would
        self.raw('set', 'sshd', 'bantime', '-1')
        self.addCleanup(self.raw, 'set', 'sshd', 'bantime', '86400')
        self.raw('set', 'sshd', 'banip', '203.0.113.20')
        lines = client.command('get', 'sshd', 'banip', '--with-time')
        self.assertRegex(lines[0], r'^192\.0\.2\.20 \t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+ -1 = 9999-12-31 23:59:59$')
        self.raw('set', 'sshd', 'bantime', '86400')  # a ticket without its own bantime follows the jail's
        lines = client.command('get', 'sshd', 'banip', '--with-time')
        with local_timezone(self.TZ):
            bans = formats.parse_banlist(lines)
        self.assertEqual([(ip, bt) for ip, _, bt in bans], [('192.0.2.20', 86400), ('2001:db8::20', 86400),
                                                             ('203.0.113.20', 86400)], lines)

    def test_what_fail2bans_socket_would_run_as_root_the_broker_refuses(self):
        pwned, module = os.path.join(self.dir, 'pwned'), os.path.join(self.dir, 'x.py')
        with open(module, 'w') as f:
            f.write(f'open({pwned!r}, "w").close()\n')
        for command in (['set', 'sshd-operator', 'addaction', 'x', module, '{}'], ['set', 'sshd-operator', 'addaction', 'x'],
                        ['set', 'sshd-operator', 'action', 'x', 'actionban', f'touch {pwned}'],
                        ['set', 'sshd-operator', 'action', 'dummy', 'actionban', f'touch {pwned}']):
            with self.assertRaisesRegex(f2b_socket.F2bError, '^refused "'):
                self.client.command(*command)
        self.assertEqual(self.raw('get', 'sshd-operator', 'actions'), ['dummy'])
        self.assertEqual(self.client.command('set', 'sshd-operator', 'banip', '203.0.113.5'), 1)
        wait_for(lambda: self.dummy_has('+203.0.113.5\n'), HANG, 'the ban action')
        self.assertFalse(os.path.exists(pwned))
        # the same commands on fail2ban's own socket: a command of the test's choosing runs at the next ban
        control = os.path.join(self.dir, 'control')
        self.raw('set', 'sshd-operator', 'addaction', 'x')
        self.addCleanup(self.raw, 'set', 'sshd-operator', 'delaction', 'x')
        self.raw('set', 'sshd-operator', 'action', 'x', 'actionban', f'touch {control}')
        self.raw('set', 'sshd-operator', 'banip', '203.0.113.6')
        wait_for(lambda: os.path.exists(control), HANG, 'the command set on the raw socket')

    def test_refused_bans_never_reach_fail2ban(self):
        for command in (['set', 'sshd', 'banip', '203.0.113.5'], ['set', 'sshd-operator', 'banip', '127.0.0.1'],
                        ['set', 'sshd-operator', 'banip', '198.51.100.7'],
                        ['set', 'sshd-operator', 'banip', '::ffff:203.0.113.5'],
                        ['set', 'sshd-operator', 'banip', '203.0.113.5', '203.0.113.6'],
                        ['set', 'sshd-operator', 'banip', '203.0.113.5 203.0.113.6']):
            with self.assertRaisesRegex(f2b_socket.F2bError, '^refused "'):
                self.client.command(*command)
        self.assertEqual((self.raw('get', 'sshd', 'banip'), self.raw('get', 'sshd-operator', 'banip')), ([], []))
        self.raw('set', 'sshd-operator', 'banip', '198.51.100.7', '203.0.113.5')  # fail2ban itself takes them
        self.assertEqual(sorted(self.client.command('get', 'sshd-operator', 'banip')), ['198.51.100.7', '203.0.113.5'])


if __name__ == '__main__':
    unittest.main()
