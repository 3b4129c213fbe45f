"""Pod-log jails (agent/pod_logs.py): which files are a jail's, and the agent keeping a real fail2ban-server 1.0.2's
list of them equal to the kubelet's directory through the broker, which refuses every other path."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest
from unittest import mock

from fail2ban.client.csocket import CSocket

from agent import f2b_socket
from agent import log as agent_log
from agent.pod_logs import PodLogJails, PodLogSync
from agent.tests.standins import InProcessBroker, wait_for

HANG = 30  # seconds: a hang detector, not a speed limit
FILTERS = os.path.join(os.path.dirname(__file__), '..', '..', 'filters')
GENERATED = '[bcdfghjklmnpqrstvwxz2456789]'
# As src/features/pod-logs renders them: k3s's Traefik (a Deployment) and an app's StatefulSet.
SPEC = {'traefik-auth': {'namespace': 'kube-system', 'pod': f'traefik-[4-9bcdf]{{1,10}}-{GENERATED}{{5}}', 'container': 'traefik'},
        'app-auth': {'namespace': 'apps', 'pod': 'app-(?:0|[1-9][0-9]{0,5})', 'container': 'app'}}
UID = '3b0e8a4c-8a2b-4d36-9d0e-6f2d8f9b1a11'


def pod_logs(directory):
    return PodLogJails.parse(json.dumps({'dir': directory, 'jails': SPEC}))


def make_log(directory, pod_dir, container, name='0.log'):
    os.makedirs(os.path.join(directory, pod_dir, container), exist_ok=True)
    path = os.path.join(directory, pod_dir, container, name)
    open(path, 'a').close()
    return path


class PodLogRulesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='pods-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.jails = pod_logs(self.dir)

    def test_finds_the_containers_log_files_of_the_workloads_pods_and_nothing_else(self):
        wanted = {make_log(self.dir, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik'),
                  make_log(self.dir, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik', '1.log'),
                  make_log(self.dir, f'kube-system_traefik-5c9d7b6f4-q2w8z_{UID}', 'traefik')}
        for pod_dir, container, name in (
                (f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik', '0.log.20261206-100000'),  # rotated
                (f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik', '0.log.20261206-100000.gz'),
                (f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'sidecar', '0.log'),  # another container
                (f'kube-system_traefik-dashboard-6f5f8d8d4c-x7k2p_{UID}', 'traefik', '0.log'),  # another workload
                (f'kube-system_helm-install-traefik-x7k2p_{UID}', 'traefik', '0.log'),  # k3s's install Job
                (f'default_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik', '0.log'),  # another namespace
                (f'apps_app-web-0_{UID}', 'app', '0.log')):
            make_log(self.dir, pod_dir, container, name)
        wanted_app = {make_log(self.dir, f'apps_app-0_{UID}', 'app'), make_log(self.dir, f'apps_app-12_{UID}', 'app')}
        self.assertEqual(self.jails.files(), {'traefik-auth': wanted, 'app-auth': wanted_app})

    def test_a_symlink_a_fifo_or_a_linked_directory_is_no_log_file(self):
        pod = f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}'
        outside = os.path.join(self.dir, 'secret')
        open(outside, 'w').close()
        os.makedirs(os.path.join(self.dir, pod, 'traefik'))
        os.symlink(outside, os.path.join(self.dir, pod, 'traefik', '0.log'))
        os.mkfifo(os.path.join(self.dir, pod, 'traefik', '1.log'))
        linked = f'kube-system_traefik-6f5f8d8d4c-b9w2m_{UID}'
        os.makedirs(os.path.join(self.dir, 'elsewhere', 'traefik'))
        open(os.path.join(self.dir, 'elsewhere', 'traefik', '0.log'), 'w').close()
        os.symlink(os.path.join(self.dir, 'elsewhere'), os.path.join(self.dir, linked))
        self.assertEqual(self.jails.files(), {'traefik-auth': set(), 'app-auth': set()})
        for path, reason in ((f'{self.dir}/{pod}/traefik/0.log', 'is not a plain file'), (f'{self.dir}/{pod}/traefik/1.log', 'is not a plain file'),
                             (f'{self.dir}/{linked}/traefik/0.log', 'is not a plain directory'), (f'{self.dir}/{pod}/traefik/2.log', 'No such file')):
            self.assertTrue(self.jails.allows('traefik-auth', path))
            self.assertIn(reason, self.jails.refusal(path))

    def test_a_pod_directory_that_cannot_be_listed_stops_no_other(self):
        good = make_log(self.dir, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik')
        locked = os.path.dirname(make_log(self.dir, f'kube-system_traefik-6f5f8d8d4c-b9w2m_{UID}', 'traefik'))
        listdir = os.listdir

        def refusing(path):
            if path == locked:
                raise PermissionError(13, 'Permission denied', path)
            return listdir(path)
        errors = set()
        with mock.patch('os.listdir', refusing):
            self.assertEqual(self.jails.files(errors)['traefik-auth'], {good})
        self.assertEqual(errors, {f'cannot list {locked}: Permission denied'})

    def test_a_node_without_pods_has_no_files(self):
        self.assertEqual(pod_pods := pod_logs(os.path.join(self.dir, 'missing')).files(), {'traefik-auth': set(), 'app-auth': set()}, pod_pods)

    def test_allows_only_its_own_pods_files_under_the_directory(self):
        good = f'{self.dir}/kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}/traefik/0.log'
        self.assertTrue(self.jails.allows('traefik-auth', good))
        for jail, path in (('app-auth', good), ('sshd', good),
                           ('traefik-auth', '/etc/shadow'),
                           ('traefik-auth', f'{self.dir}/kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}/traefik/../../../etc/shadow'),
                           ('traefik-auth', f'{self.dir}/kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}/traefik/0.log\n'),
                           ('traefik-auth', f'{self.dir}/kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}/traefik/0.log.20261206-100000'),
                           ('traefik-auth', f'{self.dir}/kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}/sidecar/0.log'),
                           ('traefik-auth', f'/tmp/kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}/traefik/0.log')):
            self.assertFalse(self.jails.allows(jail, path), (jail, path))

    def test_a_wrong_POD_LOGS_is_refused(self):
        for text in ('[]', '{"dir": "pods", "jails": {}}', '{"dir": "/var/log/../pods", "jails": {}}',
                     '{"dir": "/pods", "jails": {"j": {"namespace": "Kube", "pod": "a", "container": "c"}}}',
                     '{"dir": "/pods", "jails": {"j": {"namespace": "n", "pod": "(", "container": "c"}}}',
                     '{"dir": "/pods", "jails": {"j": {"namespace": "n", "container": "c"}}}'):
            with self.assertRaises(ValueError, msg=text):
                PodLogJails.parse(text)


@unittest.skipUnless(shutil.which('fail2ban-server'), 'fail2ban-server is not installed')
class PodLogSyncRealFail2banTest(unittest.TestCase):
    """A real fail2ban-server with the package's Traefik filter (and cri.inc) in a jail without a log file, the broker
    in front of it with POD_LOGS, and the agent's sync run round by round."""

    def setUp(self):
        self.dir = directory = tempfile.mkdtemp(prefix='pod-logs-f2b-')
        self.addCleanup(shutil.rmtree, directory)
        conf, self.pods = os.path.join(directory, 'conf'), os.path.join(directory, 'pods')
        shutil.copytree('/etc/fail2ban', conf, ignore=shutil.ignore_patterns('jail.d', 'jail.local'))
        os.mkdir(os.path.join(conf, 'jail.d'))
        for name in ('cri.inc', 'traefik-auth-json-cri.conf'):
            shutil.copy(os.path.join(FILTERS, name), os.path.join(conf, 'filter.d', name))
        self.sock = os.path.join(directory, 'fail2ban.sock')
        with open(os.path.join(conf, 'fail2ban.local'), 'w') as f:
            f.write(f'[Definition]\nsocket = {self.sock}\npidfile = {directory}/fail2ban.pid\n'
                    f'logtarget = {directory}/fail2ban.log\ndbfile = {directory}/fail2ban.sqlite3\n')
        with open(os.path.join(conf, 'jail.d', 'jail.local'), 'w') as f:
            f.write('[DEFAULT]\nbackend = auto\nbanaction = dummy\n'
                    '[traefik-auth]\nenabled = true\nfilter = traefik-auth-json-cri\nlogpath = /dev/null\nmaxretry = 2\n'
                    '[app-auth]\nenabled = true\nfilter = traefik-auth-json-cri\nlogpath = /dev/null\n')
        self.conf = conf
        self.start_server()
        self.addCleanup(self.stop_server)
        self.jails = pod_logs(self.pods)
        broker = InProcessBroker(os.path.join(directory, 'broker.sock'), self.sock, {'traefik-auth': ['get', 'unban']},
                                 pod_logs=self.jails)
        self.addCleanup(broker.close)
        self.broker = broker
        self.client = f2b_socket.Fail2ban(broker.path)
        self.sync = PodLogSync(self.client, self.jails, threading.Event())
        self.logs = []
        patcher = mock.patch.object(agent_log, 'sink', self.logs.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def start_server(self):
        self.server = subprocess.Popen(['fail2ban-server', '-f', '-x', '-c', self.conf, 'start'],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.try_raw('status', 'app-auth'), HANG, 'fail2ban-server')

    def stop_server(self):
        self.try_raw('stop')
        try:
            self.server.wait(HANG)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()

    def try_raw(self, *command):
        try:
            client = CSocket(self.sock, timeout=HANG)
        except OSError:
            return None
        try:
            code, result = client.send(list(command))
        except Exception:  # not answering yet
            return None
        finally:
            client.close()
        return result if code == 0 else None

    def logpaths(self, jail='traefik-auth'):
        """The jail's files besides /dev/null, which it reads from its start (src/model/pod-log.ts)."""
        paths = self.try_raw('get', jail, 'logpath')
        self.assertIn('/dev/null', paths)
        return sorted(path for path in paths if path != '/dev/null')

    def write_failure(self, path, address):
        with open(path, 'a') as f:
            f.write(f'{self.now()} stdout F {{"ClientAddr":"{address}:40000","DownstreamStatus":401}}\n')

    @staticmethod
    def now():
        import datetime
        return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')

    def test_the_jail_follows_the_pods_files_and_their_failures_count(self):
        self.assertEqual(self.logpaths(), [])  # a jail without a file runs
        first = make_log(self.pods, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik')
        self.write_failure(first, '192.0.2.7')  # written before the agent saw the file: read from its start
        self.assertEqual(self.sync.sync(), set())
        self.assertEqual(self.logpaths(), [first])
        self.assertEqual(self.sync.watched, {'traefik-auth': 1, 'app-auth': 0})
        self.write_failure(first, '192.0.2.7')
        wait_for(lambda: '192.0.2.7' in self.try_raw('get', 'traefik-auth', 'banip'), HANG, 'the ban')
        # the container restarts: 1.log beside 0.log
        second = make_log(self.pods, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik', '1.log')
        self.sync.sync()
        self.assertEqual(self.logpaths(), [first, second])
        # the pod is deleted and rescheduled under a new directory
        shutil.rmtree(os.path.join(self.pods, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}'))
        third = make_log(self.pods, 'kube-system_traefik-6f5f8d8d4c-b9w2m_0d6c1a7e-1111-4222-8333-944455556666', 'traefik')
        self.assertEqual(self.sync.sync(), set())
        self.assertEqual(self.logpaths(), [third])
        self.assertEqual(self.logs[-3:], [f'pod logs: traefik-auth reads {third}', f'pod logs: traefik-auth no longer reads {first}',
                                          f'pod logs: traefik-auth no longer reads {second}'])
        self.write_failure(third, '192.0.2.8')
        self.write_failure(third, '192.0.2.8')
        wait_for(lambda: '192.0.2.8' in self.try_raw('get', 'traefik-auth', 'banip'), HANG, 'the ban from the new pod')
        # fail2ban restarts with no file: the next round adds it again
        self.stop_server()
        self.start_server()
        self.assertEqual(self.logpaths(), [])
        self.sync.sync()
        self.assertEqual(self.logpaths(), [third])
        # a round with nothing to change sends only the lists
        seen = len(self.broker.logs)
        self.assertEqual(self.sync.sync(), set())
        self.assertEqual(self.logpaths(), [third])
        self.assertEqual(len(self.broker.logs), seen)

    def test_the_broker_refuses_every_other_path_and_jail(self):
        good = make_log(self.pods, f'kube-system_traefik-6f5f8d8d4c-x7k2p_{UID}', 'traefik')
        other = make_log(self.pods, f'default_web-6f5f8d8d4c-x7k2p_{UID}', 'web')
        for command in (('set', 'traefik-auth', 'addlogpath', other, 'head'),
                        ('set', 'traefik-auth', 'addlogpath', '/etc/shadow', 'head'),
                        ('set', 'traefik-auth', 'addlogpath', f'{os.path.dirname(good)}/../../../../etc/shadow', 'head'),
                        ('set', 'traefik-auth', 'addlogpath', good, 'tail'),
                        ('set', 'traefik-auth', 'addlogpath', good),
                        ('set', 'traefik-auth', 'addlogpath', good, 'head', 'extra'),
                        ('set', 'sshd', 'addlogpath', good, 'head'),
                        ('get', 'sshd', 'logpath'),
                        ('set', 'traefik-auth', 'logencoding', 'latin-1'),
                        ('set', 'traefik-auth', 'addfailregex', '.*')):
            with self.assertRaisesRegex(f2b_socket.F2bError, '^refused "', msg=command):
                self.client.command(*command)
        fifo = os.path.join(os.path.dirname(good), '1.log')
        os.mkfifo(fifo)  # fail2ban's command thread would block opening it
        with self.assertRaisesRegex(f2b_socket.F2bError, '^refused ".*is not a plain file'):
            self.client.command('set', 'traefik-auth', 'addlogpath', fifo, 'head')
        self.assertEqual(self.logpaths(), [])
        self.assertEqual(self.client.command('set', 'traefik-auth', 'addlogpath', good, 'head'), ['/dev/null', good])
        self.assertEqual(self.client.command('set', 'traefik-auth', 'dellogpath', good), ['/dev/null'])
        with self.assertRaisesRegex(f2b_socket.F2bError, '^refused "'):
            self.client.command('set', 'traefik-auth', 'dellogpath', '/dev/null')


if __name__ == '__main__':
    unittest.main()
