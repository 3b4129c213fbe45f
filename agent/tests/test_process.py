"""The agent as the pod runs it: HTTPS to the API, the process and its signals, a real fail2ban-server."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import unittest.mock
from agent import agent as node, f2b_socket, formats, kube, records
from agent.tests.standins import COLLECTION, FakeApi, FakeFail2ban, GROUP, NAMESPACE, local_timezone, record, rfc3339, wait_for


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
        with open(other) as certificate, open(key) as private_key:  # the key of the last certificate made
            api = FakeApi((certificate.read(), private_key.read()))
        self.addCleanup(api.close)
        with open(os.path.join(directory, 'token'), 'w') as f:
            f.write('token-a')
        self.assertTrue(api.url.startswith('https://'))
        status, body = kube.Api(api.url, os.path.join(directory, 'token'), other).request('GET', COLLECTION)
        self.assertEqual((status, body['kind']), (200, 'BanList'))
        with self.assertRaises(ssl.SSLCertVerificationError):
            kube.Api(api.url, os.path.join(directory, 'token'), cert).request('GET', COLLECTION)
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
        end = rfc3339(records.parse_time(injected['spec']['bannedAt']) + 3600)
        with open(os.path.join(directory, 'token'), 'w') as f:
            f.write('token-a')
        env = dict(os.environ, NODE_NAME='node-a', NAMESPACE=NAMESPACE, BAN_GROUP=GROUP, KUBERNETES_API=api.url,
                   TOKEN_FILE=os.path.join(directory, 'token'), CA_FILE='/nonexistent', F2B_SOCKET=f2b.path,
                   OUTBOX=os.path.join(directory, 'outbox'), STATUS_FILE=os.path.join(directory, 'alive'),
                   STATE_FILE=os.path.join(directory, 'state.json'),
                   SHARED_JAILS=json.dumps({'sshd': {'mirror': 'sshd-cluster', 'maxBanTime': 86400}}),
                   NEVER_BAN='198.51.100.0/24', RATE_LIMIT='10', REPUBLISH_SECONDS='60', PYTHONUNBUFFERED='1')
        # As the pod runs it: `python3 -m agent` from the folder the ConfigMap's files are mounted in.
        process = subprocess.Popen([sys.executable, '-m', 'agent'], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, cwd=os.path.dirname(os.path.dirname(node.__file__)))
        try:
            wait_for(lambda: '192.0.2.10' in f2b.banned('sshd-cluster'), what='the mirror ban')
            self.assertTrue(os.path.exists(env['STATUS_FILE']))
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=30)[0]  # a hang detector, not a speed limit
        finally:
            process.kill()
            process.wait()
        self.assertEqual(process.returncode, 0, output)
        lines = output.splitlines()
        self.assertTrue(lines[0].startswith('node-agent: started on node-a: jails sshd'), output)
        self.assertIn(f'node-agent: state file {env["STATE_FILE"]} does not exist yet: starting empty\n', output)
        self.assertIn(f'node-agent: applied sshd 192.0.2.10 from node-b until {end}\n', output)
        self.assertEqual(lines[-1], 'node-agent: stopped')


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
        client = f2b_socket.Fail2ban(sock, timeout=5)

        def stop():
            try:
                client.command('stop')
            except f2b_socket.F2bError:
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
            except f2b_socket.F2bError:
                return None
        wait_for(ready, what='fail2ban-server')
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 1)
        self.assertEqual(client.command('set', 'sshd-cluster', 'banip', '192.0.2.10'), 0)
        self.assertEqual(client.command('get', 'sshd-cluster', 'banip'), ['192.0.2.10'])
        self.assertEqual(client.command('set', 'sshd-cluster', 'unbanip', '192.0.2.10'), 1)
        self.assertEqual(client.command('set', 'sshd-cluster', 'unbanip', '192.0.2.10'), 0)
        with self.assertRaises(f2b_socket.F2bError):
            client.command('set', 'nginx-cluster', 'banip', '192.0.2.10')
        client.command('set', 'sshd', 'banip', '192.0.2.20', '2001:db8::20')
        client.command('set', 'sshd', 'bantime', '-1')
        client.command('set', 'sshd', 'banip', '203.0.113.20')
        lines = client.command('get', 'sshd', 'banip', '--with-time')
        self.assertRegex(lines[0], r'^192\.0\.2\.20 \t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+ -1 = 9999-12-31 23:59:59$')
        client.command('set', 'sshd', 'bantime', '86400')  # a ticket without its own bantime follows the jail's
        lines = client.command('get', 'sshd', 'banip', '--with-time')
        with local_timezone(tz):
            bans = formats.parse_banlist(lines)
        self.assertEqual([(ip, bt) for ip, _, bt in bans], [('192.0.2.20', 86400), ('2001:db8::20', 86400),
                                                             ('203.0.113.20', 86400)], lines)
        for _, start, _ in bans:
            self.assertLess(abs(start - time.time()), 10, lines)


if __name__ == '__main__':
    unittest.main()
