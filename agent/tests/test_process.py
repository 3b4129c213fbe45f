"""The agent as the pod runs it: HTTPS to the API, the process and its signals (a real fail2ban-server behind the
broker: test_broker.py)."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import unittest
import unittest.mock
from agent import agent as node, kube, records
from agent.tests.standins import COLLECTION, FakeApi, FakeFail2ban, GROUP, InProcessBroker, NAMESPACE, record, rfc3339, wait_for


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
        broker = InProcessBroker(os.path.join(directory, 'broker.sock'), f2b.path)
        self.addCleanup(broker.close)
        injected = api.inject(record('192.0.2.10', node='node-b'))
        end = rfc3339(records.parse_time(injected['spec']['bannedAt']) + 3600)
        with open(os.path.join(directory, 'token'), 'w') as f:
            f.write('token-a')
        env = dict(os.environ, NODE_NAME='node-a', NAMESPACE=NAMESPACE, BAN_GROUP=GROUP, KUBERNETES_API=api.url,
                   TOKEN_FILE=os.path.join(directory, 'token'), CA_FILE='/nonexistent', BROKER_SOCKET=broker.path,
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


if __name__ == '__main__':
    unittest.main()
