"""The agent's metrics (agent/metrics.py): the snapshot's caching and counters, the exposition, the broker's reads."""

import ipaddress
import os
import shutil
import socket
import tempfile
import threading
import types
import unittest
from unittest import mock
import urllib.error
import urllib.request

from agent import f2b_socket, metrics, records
from agent import log as agent_log
from agent.agent import NodeAgent
from agent.tests.standins import FakeFail2ban, InProcessBroker, wait_for


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Fail2banStandIn:
    """fail2ban's answers to the snapshot's commands, through f2b_socket's interface; `down` raises as the broker's
    client does when fail2ban's socket is gone."""

    def __init__(self):
        self.jails = {'sshd': [0, 0, 0, 0]}  # currently failed, total failed, currently banned, total banned
        self.down, self.commands, self.server, self.refused = False, [], 1, set()

    def command(self, *args):
        self.commands.append(args)
        if self.down:
            raise f2b_socket.F2bError('cannot connect to /var/run/fail2ban/fail2ban.sock: [Errno 2] No such file or directory')
        if args[1:2] and args[1] in self.refused:
            raise f2b_socket.F2bError(f'refused "{args}": the jail is not in BROKER_JAILS')
        if args == ('generation',):
            return f'0:{self.server}:0'
        if args == ('version',):
            return '1.0.2'
        if args == ('status',):
            return [['Number of jail', len(self.jails)], ['Jail list', ', '.join(self.jails)]]
        if args[0] == 'status':
            failed_now, failed, banned_now, banned = self.jails[args[1]]
            return [['Filter', [['Currently failed', failed_now], ['Total failed', failed]]],
                    ['Actions', [['Currently banned', banned_now], ['Total banned', banned]]]]
        return {'bantime': 3600, 'findtime': 600, 'maxretry': 5}[args[2]]


class SnapshotTest(unittest.TestCase):
    def setUp(self):
        self.f2b, self.clock, self.registry = Fail2banStandIn(), Clock(), metrics.Registry()
        self.snapshot = metrics.Fail2banSnapshot(self.f2b, self.registry, interval=10, clock=self.clock, wall=lambda: 1.5e9)

    def test_one_round_of_commands_per_interval_however_often_scraped(self):
        self.snapshot.get()
        rounds = len(self.f2b.commands)
        self.assertEqual(rounds, 7)  # generation, version, status, and the jail's status and three settings
        for _ in range(5):
            self.clock.now += 1.9
            self.snapshot.get()
        self.assertEqual(len(self.f2b.commands), rounds)
        self.clock.now += 0.6  # 10.1 s after the first
        self.snapshot.get()
        self.assertEqual(len(self.f2b.commands), 2 * rounds)

    def total(self, name='f2b_jail_banned_total'):
        return self.snapshot.get()[(name, (('jail', 'sshd'),))]

    def next_snapshot(self):
        self.clock.now += 10

    def test_totals_count_from_the_first_snapshot_of_each_server_and_only_grow(self):
        self.f2b.jails['sshd'] = [1, 7, 2, 3]  # the agent starts beside a running fail2ban
        self.assertEqual(self.total(), 0)
        self.next_snapshot()
        self.f2b.jails['sshd'] = [0, 9, 3, 5]
        self.assertEqual((self.total(), self.total('f2b_jail_failed_total')), (2, 2))
        # fail2ban restarts and restores its 3 bans, which count in its own total: no new bans
        self.next_snapshot()
        self.f2b.server, self.f2b.jails['sshd'] = 2, [0, 0, 3, 3]
        self.assertEqual(self.total(), 2)
        self.next_snapshot()
        self.f2b.jails['sshd'] = [0, 4, 4, 4]
        self.assertEqual((self.total(), self.total('f2b_jail_failed_total')), (3, 6))
        # a restart whose total is higher than the last one's (many restored bans) adds nothing by itself either
        self.next_snapshot()
        self.f2b.server, self.f2b.jails['sshd'] = 3, [0, 0, 40, 40]
        self.assertEqual(self.total(), 3)
        self.assertEqual(self.snapshot.get()[('f2b_jail_banned_current', (('jail', 'sshd'),))], 40)

    def test_a_broker_or_fail2ban_that_does_not_answer_makes_no_restart(self):
        self.f2b.jails['sshd'] = [0, 5, 1, 5]
        self.snapshot.get()
        self.next_snapshot()
        self.f2b.down = True
        taken = self.snapshot.get()
        self.assertEqual((taken[('f2b_up', ())], taken[('f2b_errors', (('type', 'socket_conn'),))]), (0, 1))
        self.assertNotIn(('f2b_jail_banned_total', (('jail', 'sshd'),)), taken)
        self.next_snapshot()
        self.f2b.down, self.f2b.jails['sshd'] = False, [0, 6, 2, 6]  # the same server: its total went on
        self.assertEqual(self.total(), 1)
        self.assertEqual(self.registry.samples()[('f2b_agent_errors_total', (('kind', 'fail2ban'),))], 1)

    def test_a_jail_that_cannot_be_read_leaves_the_others_and_fail2ban_up(self):
        self.f2b.jails['web'] = [0, 1, 1, 1]
        self.f2b.refused.add('web')
        taken = self.snapshot.get()
        self.assertEqual((taken[('f2b_up', ())], taken[('f2b_jail_count', ())], taken[('f2b_errors', (('type', 'socket_req'),))]), (1, 2, 1))
        self.assertIn(('f2b_jail_banned_current', (('jail', 'sshd'),)), taken)
        self.assertNotIn(('f2b_jail_banned_current', (('jail', 'web'),)), taken)

    def test_an_answer_of_another_shape_is_a_failed_read_not_a_dead_scrape(self):
        self.f2b.command = lambda *args: 42
        self.assertEqual(self.snapshot.get()[('f2b_up', ())], 0)

    def test_the_agents_labelled_counters_start_at_0(self):
        samples = metrics.Registry(shared_jails=['sshd']).samples()
        for key in ((('f2b_agent_errors_total', (('kind', 'sharing'),))), ('f2b_agent_sharing_refused_total', (('reason', 'never_ban'),)),
                    ('f2b_agent_operator_orders_applied_total', (('action', 'unban'),)), ('f2b_agent_sharing_applied_total', (('jail', 'sshd'),))):
            self.assertEqual(samples[key], 0, key)

    def test_the_exposition_is_in_the_catalogs_order_with_help_type_and_escaped_labels(self):
        registry = metrics.Registry()
        registry.inc('f2b_agent_sharing_refused_total', reason='never_ban')
        registry.inc('f2b_agent_sharing_refused_total', reason='never_ban')
        registry.set('f2b_agent_pod_log_files', 2, jail='we"ird\\')
        text = metrics.exposition({**self.snapshot.get(), **registry.samples()})
        self.assertIn('# TYPE f2b_jail_banned_total counter\nf2b_jail_banned_total{jail="sshd"} 0\n', text)
        self.assertIn('f2b_agent_sharing_refused_total{reason="never_ban"} 2\n', text)
        self.assertIn('f2b_agent_pod_log_files{jail="we\\"ird\\\\"} 2\n', text)
        order = [line.split()[2] for line in text.splitlines() if line.startswith('# HELP')]
        self.assertEqual(order, [series['name'] for series in metrics.CATALOG if series['name'] in order])

    def test_the_never_ban_refusals_of_records_py_are_never_ban(self):
        network = ipaddress.ip_network('192.0.2.240/28')
        for address in ('127.0.0.1', '224.0.0.1', '::1', '192.0.2.241'):
            self.assertEqual(metrics.refusal_kind(records.address_refusal(ipaddress.ip_address(address), [network])), 'never_ban')

    def test_refusal_reasons_are_a_few_labels_never_an_address(self):
        for reason, kind in (('inside NEVER_BAN 192.0.2.240/28', 'never_ban'), ('loopback address', 'never_ban'),
                             ('multicast address', 'never_ban'), ('jail nginx is not shared here', 'invalid'),
                             ('bannedAt 2026-12-06T10:00:00Z is not after the unban order of 2026-12-06T11:00:00Z', 'unban_order'),
                             ('over the rate limit (60 per minute)', 'rate_limit'), ('over the cap of 5000 records per node', 'node_cap'),
                             ('bannedAt 2027-01-01T00:00:00Z is in the future', 'future'), ('spec.ip is not an address', 'invalid')):
            self.assertEqual(metrics.refusal_kind(reason), kind)


class ServerTest(unittest.TestCase):
    def test_serves_metrics_on_ipv4_and_ipv6_and_nothing_else(self):
        snapshot = metrics.Fail2banSnapshot(Fail2banStandIn(), metrics.Registry(), interval=10)
        for host in ('127.0.0.1', '::1'):
            server = metrics.MetricsServer((host, 0), snapshot, metrics.Registry())
            threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
            self.addCleanup(server.server_close)
            self.addCleanup(server.shutdown)
            url = f'http://{host if ":" not in host else f"[{host}]"}:{server.server_address[1]}'
            with urllib.request.urlopen(f'{url}/metrics', timeout=30) as response:
                self.assertEqual(response.headers['Content-Type'], 'text/plain; version=0.0.4; charset=utf-8')
                self.assertIn('f2b_up 1\n', response.read().decode())
            with self.assertRaises(urllib.error.HTTPError):
                urllib.request.urlopen(f'{url}/', timeout=30)

    def test_idle_connections_get_no_more_than_a_few_threads_and_time_out(self):
        snapshot = metrics.Fail2banSnapshot(Fail2banStandIn(), metrics.Registry(), interval=10)
        server = metrics.MetricsServer(('127.0.0.1', 0), snapshot, metrics.Registry())
        threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        idle = []
        for _ in range(metrics.MAX_CONNECTIONS + 20):
            conn = socket.create_connection(server.server_address, timeout=30)
            conn.sendall(b'GET /met')  # and nothing more
            idle.append(conn)
            self.addCleanup(conn.close)
        wait_for(lambda: not server.slots.acquire(blocking=False) or server.slots.release(), 30, 'every slot taken')
        self.assertLessEqual(threading.active_count(), 2 + metrics.MAX_CONNECTIONS + 5)
        # the idle ones are dropped after IDLE_SECONDS, and a scrape gets through again
        def scraped():
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{server.server_address[1]}/metrics', timeout=30) as response:
                    return response.status == 200
            except (urllib.error.URLError, ConnectionError):
                return False
        wait_for(scraped, 30, 'a scrape after the idle connections timed out')


    def test_a_port_taken_on_the_node_is_logged_and_the_agent_goes_on(self):
        taken = socket.socket()
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        self.addCleanup(taken.close)
        logs = []
        agent = types.SimpleNamespace(cfg=types.SimpleNamespace(metrics_address='127.0.0.1', metrics_port=taken.getsockname()[1], snapshot_seconds=10),
                                      f2b=Fail2banStandIn(), metrics=metrics.Registry(), metrics_server=None,
                                      pod_log_sync=types.SimpleNamespace(watched={}))
        with mock.patch.object(agent_log, 'sink', logs.append):
            NodeAgent.start_metrics(agent)
        self.assertIsNone(agent.metrics_server)
        self.assertEqual(logs, [f'error: metrics: cannot listen on 127.0.0.1:{taken.getsockname()[1]}: Address already in use; no metrics on this node'])


class BrokerReadsTest(unittest.TestCase):
    """The broker forwards the snapshot's reads, and no read that would carry addresses."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='broker-metrics-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.f2b = FakeFail2ban(os.path.join(self.dir, 'fail2ban.sock'), ['sshd', 'sshd-operator'])
        self.addCleanup(self.f2b.close)
        self.broker = InProcessBroker(os.path.join(self.dir, 'broker.sock'), self.f2b.path)
        self.addCleanup(self.broker.close)
        self.client = f2b_socket.Fail2ban(self.broker.path)

    def test_answers_which_server_listens_itself_and_a_new_server_is_another(self):
        first = self.client.command('generation')
        self.assertEqual(self.client.command('generation'), first)
        self.assertFalse(self.f2b.ran('generation'))
        self.f2b.close()
        os.unlink(self.f2b.path)
        with self.assertRaisesRegex(f2b_socket.F2bError, '^cannot connect to '):
            self.client.command('generation')
        self.f2b = FakeFail2ban(self.f2b.path, ['sshd'])  # fail2ban started again: it binds a new socket
        self.addCleanup(self.f2b.close)
        self.assertNotEqual(self.client.command('generation'), first)

    def test_forwards_the_reads_refuses_a_full_status_and_unknown_jails(self):
        for command in (('version',), ('status',), ('status', 'sshd', 'short'), ('get', 'sshd', 'bantime'),
                        ('get', 'sshd-operator', 'findtime'), ('get', 'sshd', 'maxretry')):
            try:
                self.client.command(*command)
            except f2b_socket.F2bError as error:  # the stand-in knows only bans: an answer of fail2ban, not a refusal
                self.assertNotIn('refused', str(error))
            self.assertTrue(self.f2b.ran(*command), command)
        for command in (('status', 'sshd'), ('status', 'sshd', 'cymru'), ('status', 'sshd', 'basic'), ('status', 'nginx', 'short'),
                        ('get', 'sshd', 'logpath'), ('get', 'sshd', 'ignoreip'), ('get', 'sshd', 'actions'), ('version', 'x'), ('ping',)):
            with self.assertRaisesRegex(f2b_socket.F2bError, '^refused "'):
                self.client.command(*command)
            self.assertFalse(self.f2b.ran(*command), command)


if __name__ == '__main__':
    unittest.main()
