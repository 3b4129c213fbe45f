"""The base of the loop tests: a running agent against FakeApi (real HTTP) and, through the real broker,
FakeFail2ban (real CSocket)."""

import json
import os
import shutil
import tempfile
import threading
import time
import unittest
import unittest.mock
from unittest import mock
from agent import agent as node, config as agent_config, log as agent_log
from agent.tests.standins import COLLECTION, Clock, FakeApi, FakeFail2ban, NEVER_BAN, SHARED, record, wait_for
from agent.tests.standins import InProcessBroker


class AgentTestCase(unittest.TestCase):
    """The agent's threads against FakeApi (real HTTP) and, through the real broker, FakeFail2ban (real CSocket)."""

    @classmethod
    def setUpClass(cls):
        cls.shared_api = FakeApi()  # one stand-in process per class, emptied before each test

    @classmethod
    def tearDownClass(cls):
        cls.shared_api.close()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='ban-sharing-')
        self.api = self.shared_api
        self.api.reset()
        self.f2b = FakeFail2ban(os.path.join(self.dir, 'fail2ban.sock'), ['sshd', 'sshd-cluster', 'sshd-operator'])
        self.broker = InProcessBroker(os.path.join(self.dir, 'broker.sock'), self.f2b.path)
        self.token_file = os.path.join(self.dir, 'token')
        self.write_token('token-a')
        self.outbox = os.path.join(self.dir, 'outbox')
        self.status_file = os.path.join(self.dir, 'alive')
        self.state_file = os.path.join(self.dir, 'state.json')
        self.clock, self.logs, self.agent = Clock(), [], None
        patcher = mock.patch.object(agent_log, 'sink', self.logs.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def tearDown(self):
        if self.agent:
            self.agent.stop()
            self.thread.join(5)
            self.assertFalse(self.thread.is_alive())
        self.broker.close()
        self.f2b.close()
        shutil.rmtree(self.dir)

    def write_token(self, text):
        with open(self.token_file, 'w') as f:
            f.write(text + '\n')

    def start(self, ready=None, **overrides):
        """Starts the agent with `overrides` of the settings; returns once `ready()` (default: the ledger's first
        LIST and WATCH)."""
        settings = dict(node='node-a', api=self.api.url, token_file=self.token_file, ca_file='',
                        socket_path=self.broker.path, outbox=self.outbox, shared=SHARED, never_ban=NEVER_BAN,
                        rate_limit=60, republish_seconds=30, status_file=self.status_file, state_file=self.state_file,
                        grace_seconds=60, tick=0.05, settle_seconds=0.1,
                        outbox_poll=0.02, watch_timeout=5, backoff_max=0.1)
        settings.update(overrides)
        self.agent = node.NodeAgent(agent_config.Config(**settings), clock=self.clock)
        self.thread = threading.Thread(target=self.agent.run, daemon=True)
        self.thread.start()
        wait_for(ready or (lambda: self.agent.synced and self.api.calls('GET', watch=True)), what='the agent ready')

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
        self.agent.stop()
        self.thread.join(5)
        self.assertFalse(self.thread.is_alive())
        self.agent = None

    def republish_rounds(self, count=2):
        """Waits until the publisher has begun `count` more republish rounds (each starts by reading the origin jail's
        ban list): once the second has begun, the first has ended. A barrier, where a sleep would assume a speed."""
        begun = self.f2b.count('get', 'sshd', 'banip', '--with-time')
        wait_for(lambda: self.f2b.count('get', 'sshd', 'banip', '--with-time') >= begun + count,
                 what=f'{count} more republish rounds')

    def ledger_barrier(self, ip='203.0.113.250'):
        """Adds a record and waits until the mirror holds it: the agent handles ledger events in order, so every
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
        return [r for r in list(self.api.requests) if r['method'] == 'GET' and r['path'] == COLLECTION
                and 'watch' not in r['query'] and 'continue' not in r['query']]

    def log_with(self, text):
        return wait_for(lambda: [line for line in list(self.logs) if text in line], what=f'a log line with {text!r}')

    def outbox_empty(self):
        return wait_for(lambda: not os.listdir(self.outbox), what='an empty outbox')
