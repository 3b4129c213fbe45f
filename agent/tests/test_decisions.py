"""The agent's decisions and its state file."""

import json
import os
import shutil
import tempfile
import unittest
import unittest.mock
from unittest import mock
from agent import config as agent_config, decisions, log as agent_log, records, state as agent_state
from agent.tests.standins import NEVER_BAN, SHARED, record, rfc3339


class DecisionTest(unittest.TestCase):
    now = 1_800_000_000

    def spec(self, banned_at, ban_time, node='node-a'):
        return {'ip': '192.0.2.10', 'jail': 'sshd', 'node': node, 'bannedAt': rfc3339(banned_at), 'banTime': ban_time}

    def test_merge_extends_only_if_later(self):
        existing = record('192.0.2.10', node='node-a', banned_at=self.now, ban_time=600)
        self.assertEqual(decisions.merge_decision(existing, self.spec(self.now + 60, 600), 'node-a')[0], 'update')
        self.assertEqual(decisions.merge_decision(existing, self.spec(self.now, 600), 'node-a')[0], 'keep')
        self.assertEqual(decisions.merge_decision(existing, self.spec(self.now + 60, 500), 'node-a')[0], 'keep')
        self.assertEqual(decisions.merge_decision(existing, self.spec(self.now, -1), 'node-a')[0], 'update')
        permanent = record('192.0.2.10', node='node-a', banned_at=self.now, ban_time=-1)
        self.assertEqual(decisions.merge_decision(permanent, self.spec(self.now + 60, 86400), 'node-a')[0], 'keep')
        theirs = record('192.0.2.10', node='node-b', banned_at=self.now, ban_time=600)
        decision, why = decisions.merge_decision(theirs, self.spec(self.now, 86400), 'node-a')
        self.assertEqual((decision, why), ('keep', f'node-b holds it until {rfc3339(self.now + 600)}'))

    def plan(self, ledger, applied=None, refused=None, limiter=None, now=None, cap=None):
        return decisions.plan({o['metadata']['name']: o for o in ledger}, applied or {}, refused or {}, 'node-a', SHARED,
                              NEVER_BAN, limiter or decisions.RateLimiter(60), self.now if now is None else now, cap=cap)

    def test_plan(self):
        theirs = record('192.0.2.10', banned_at=self.now - 10, ban_time=600)
        mine = record('192.0.2.11', node='node-a', banned_at=self.now - 10)
        ended = record('192.0.2.12', banned_at=self.now - 700, ban_time=600)
        actions = self.plan([theirs, mine, ended])
        self.assertEqual([a[0:2] for a in actions], [('apply', 'sshd.v4-192-0-2-10.node-b')])
        self.assertEqual(actions[0][3:], ('sshd-cluster', self.now + 590))
        applied = {'sshd.v4-192-0-2-10.node-b': (records.parse_record(theirs), 'sshd-cluster', self.now + 590),
                   'sshd.v4-192-0-2-13.node-b': (records.parse_record(record('192.0.2.13')), 'sshd-cluster', None)}
        self.assertEqual(self.plan([theirs], applied), [('unban', 'sshd.v4-192-0-2-13.node-b', 'record deleted')])
        self.assertEqual(self.plan([theirs], applied, now=self.now + 590)[0], ('unban', 'sshd.v4-192-0-2-10.node-b', 'ended'))

    def test_plan_applies_no_more_than_the_cap_of_one_origin_node(self):
        flood = [record(f'192.0.2.{i}', node='node-b', banned_at=self.now - 10) for i in range(10, 15)]
        other = record('203.0.113.10', node='node-c', banned_at=self.now - 10)
        actions = self.plan([*flood, other], cap=3)
        self.assertEqual([a[0] for a in actions if a[1] != 'sshd.v4-203-0-113-10.node-c'], ['apply'] * 3 + ['defer'] * 2)
        self.assertEqual([a[3] for a in actions if a[0] == 'defer'], ['over the cap of 3 records per node'] * 2)
        self.assertIn(('apply', 'sshd.v4-203-0-113-10.node-c'), [a[0:2] for a in actions])  # another node is not held back
        applied = {a[1]: (a[2], a[3], a[4]) for a in actions if a[0] == 'apply'}
        self.assertEqual([a[0] for a in self.plan([*flood, other], applied, cap=3)], ['defer', 'defer'])

    def test_plan_counts_applied_records_first_whatever_their_names(self):
        applied = {}
        for i in (5, 6):
            ban = records.parse_record(record(f'192.0.2.{i}', node='node-b', banned_at=self.now - 10))
            applied[ban.name] = (ban, 'sshd-cluster', self.now + 3590)
        new = record('192.0.2.1', node='node-b', banned_at=self.now - 10)  # its name sorts before the applied ones
        ledger = [new, *(record(f'192.0.2.{i}', node='node-b', banned_at=self.now - 10) for i in (5, 6))]
        self.assertEqual([a[0] for a in self.plan(ledger, applied, cap=2)], ['defer'])

    def test_a_refused_record_still_applied_is_unbanned_at_the_next_plan(self):
        bad = record('127.0.0.1', banned_at=self.now, rv='7')
        applied = {'sshd.v4-127-0-0-1.node-b': (records.parse_record(bad), 'sshd-cluster', None)}
        actions = self.plan([bad], applied=applied, refused={'sshd.v4-127-0-0-1.node-b': '7'})
        self.assertIn(('unban', 'sshd.v4-127-0-0-1.node-b', 'refused: loopback address'), actions)

    def test_plan_refuses_once_per_resource_version(self):
        bad = record('127.0.0.1', banned_at=self.now, rv='7')
        actions = self.plan([bad])
        self.assertEqual(actions, [('refuse', 'sshd.v4-127-0-0-1.node-b', '7', 'loopback address')])
        self.assertEqual(self.plan([bad], refused={'sshd.v4-127-0-0-1.node-b': '7'}), [])
        self.assertEqual(len(self.plan([bad], refused={'sshd.v4-127-0-0-1.node-b': '6'})), 1)

    def test_plan_checks_a_record_once_and_a_replaced_one_again(self):
        checks, calls = records.RecordChecks(), []
        original = records.check_record

        def counted(obj, shared, never_ban):
            calls.append(obj['metadata']['name'])
            return original(obj, shared, never_ban)

        def plan(ledger):
            return decisions.plan({o['metadata']['name']: o for o in ledger}, {}, {}, 'node-a', SHARED, NEVER_BAN,
                           decisions.RateLimiter(60), self.now, checks)

        good = record('192.0.2.10', banned_at=self.now - 10, rv='1')
        with unittest.mock.patch.object(records, 'check_record', counted):
            self.assertEqual([a[0] for a in plan([good])], ['apply'])
            self.assertEqual([a[0] for a in plan([good])], ['apply'])
            self.assertEqual(calls, ['sshd.v4-192-0-2-10.node-b'])
            replaced = record('192.0.2.10', banned_at=self.now - 10, ban_time='one hour', rv='2')
            self.assertEqual([a[0] for a in plan([replaced])], ['refuse'])
            self.assertEqual(len(calls), 2)
        self.assertEqual(list(checks.answers), [id(replaced)])  # the replaced record's answer is gone

    def test_plan_rate_limit_per_origin_node(self):
        limiter = decisions.RateLimiter(2)
        ledger = [record(f'192.0.2.{i}', banned_at=self.now) for i in (1, 2, 3)] + \
                 [record('192.0.2.4', node='node-c', banned_at=self.now)]
        self.assertEqual([a[0] for a in self.plan(ledger, limiter=limiter)], ['apply', 'apply', 'defer', 'apply'])
        self.assertEqual([a[0] for a in self.plan(ledger[2:3], limiter=limiter, now=self.now + 30)], ['defer'])
        self.assertEqual([a[0] for a in self.plan(ledger[2:3], limiter=limiter, now=self.now + 61)], ['apply'])

    def test_deletions(self):
        own = record('192.0.2.10', node='node-a', banned_at=self.now - 10, ban_time=600)
        self.assertEqual(decisions.deletion_actions(own, False, 'node-a', SHARED, self.now),
                         [('unban-origin', 'sshd', '192.0.2.10', 'node-a')])
        self.assertEqual(decisions.deletion_actions(own, True, 'node-a', SHARED, self.now), [])
        self.assertEqual(decisions.deletion_actions(own, False, 'node-a', SHARED, self.now + 590), [])  # the owner's clean-up
        permanent = record('192.0.2.10', node='node-a', banned_at=self.now - 10, ban_time=-1)
        self.assertEqual(len(decisions.deletion_actions(permanent, False, 'node-a', SHARED, self.now + 10 ** 6)), 1)
        nginx = record('192.0.2.10', node='node-a', jail='nginx')
        self.assertEqual(decisions.deletion_actions(nginx, False, 'node-a', SHARED, self.now), [])
        # Another node's record, whatever its end (a forged ten-year ban dated in the past), never unbans here.
        forged = record('192.0.2.10', node='node-b', banned_at=self.now - 2 * 86400, ban_time=10 * 365 * 86400)
        self.assertEqual(decisions.deletion_actions(forged, False, 'node-a', SHARED, self.now), [])

    def test_local_ban_decision(self):
        start, end = self.now - 100, self.now + 3500
        mine = record('192.0.2.10', node='node-a', banned_at=start, ban_time=3600)
        theirs = record('192.0.2.10', node='node-b', banned_at=start - 50, ban_time=60)
        name = 'sshd.v4-192-0-2-10.node-a'
        entry = {'bannedAt': start, 'end': end}

        def decide(ledger=(), published=None, tombstones=None, ban_start=start, ban_end=end):
            return decisions.local_ban_decision(name, ban_start, ban_end, {o['metadata']['name']: o for o in ledger},
                                         published or {}, tombstones or {}, 'node-a', self.now)[0]
        self.assertEqual(decide([mine], {name: entry}), 'keep')
        self.assertEqual(decide([theirs]), 'publish')  # another node's record holds nothing for this node
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
        config = agent_config.config_from_env({
            'NODE_NAME': 'k3s-agent-1', 'NAMESPACE': 'fail2ban', 'BAN_GROUP': 'bans.example', 'TOKEN_FILE': '/t',
            'KUBERNETES_SERVICE_HOST': '10.43.0.1', 'KUBERNETES_SERVICE_PORT': '443',
            'SHARED_JAILS': '{"sshd": {"mirror": "sshd-cluster", "maxBanTime": 86400}}',
            'NEVER_BAN': '203.0.113.1 198.51.100.0/24 2001:db8::/32', 'RATE_LIMIT': '30', 'REPUBLISH_SECONDS': '60',
            'STATUS_FILE': '/var/run/fail2ban/ban-sharing.alive', 'STATE_FILE': '/var/lib/ban-sharing/state.json'})
        self.assertEqual(config.state_file, '/var/lib/ban-sharing/state.json')
        self.assertIsNone(agent_config.config_from_env({'NODE_NAME': 'n'}).state_file)
        self.assertEqual((config.node, config.group, config.api, config.rate_limit, config.token_file),
                         ('k3s-agent-1', 'bans.example', 'https://10.43.0.1:443', 30, '/t'))
        self.assertEqual(config.shared, {'sshd': records.SharedJail('sshd-cluster', 86400)})
        self.assertEqual([str(n) for n in config.never_ban], ['203.0.113.1/32', '198.51.100.0/24', '2001:db8::/32'])
        self.assertEqual(agent_config.config_from_env({'NODE_NAME': 'n', 'KUBERNETES_SERVICE_HOST': 'fd00::1'}).api,
                         'https://[fd00::1]:443')
        with self.assertRaises(ValueError):
            agent_config.config_from_env({})
        with self.assertRaises(ValueError):
            agent_config.config_from_env({'NODE_NAME': 'n', 'SHARED_JAILS': '{"sshd": {}}'})


class PublishedStateTest(unittest.TestCase):
    now = 1_800_000_000

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='ban-sharing-state-')
        self.addCleanup(shutil.rmtree, self.dir)
        self.path = os.path.join(self.dir, 'state.json')
        self.logs = []
        patcher = mock.patch.object(agent_log, 'sink', self.logs.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def ban(self, ip, banned_at=None, ban_time=3600):
        return records.parse_record(record(ip, node='node-a', banned_at=banned_at or self.now - 10, ban_time=ban_time))

    def test_round_trip_written_atomically(self):
        state = agent_state.PublishedState(self.path)
        self.assertEqual(state.records, {})
        self.assertIn(f'state file {self.path} does not exist yet: starting empty', self.logs)
        state.remember(self.ban('192.0.2.10'))
        state.remember(self.ban('2001:db8::10', ban_time=-1))
        state.mark_deleted('sshd.v6-2001-db8--10.node-a', self.now)
        state.save()
        self.assertEqual(os.listdir(self.dir), ['state.json'])  # the temporary file was renamed
        again = agent_state.PublishedState(self.path)
        self.assertEqual(again.records, {
            'sshd.v4-192-0-2-10.node-a': {'bannedAt': self.now - 10, 'end': self.now + 3590},
            'sshd.v6-2001-db8--10.node-a': {'bannedAt': self.now - 10, 'end': None, 'deleted': self.now}})
        mtime = os.stat(self.path).st_mtime_ns
        again.remember(self.ban('192.0.2.10'))  # the same: nothing to write
        again.save()
        self.assertEqual(os.stat(self.path).st_mtime_ns, mtime)
        again.forget('sshd.v4-192-0-2-10.node-a')
        again.save()
        self.assertEqual(list(agent_state.PublishedState(self.path).records), ['sshd.v6-2001-db8--10.node-a'])

    def test_missing_or_corrupt_file_starts_empty(self):
        for content, message in (('{"records": {', 'is unreadable'), ('[1, 2]', 'has no records'),
                                 ('{"records": []}', 'has no records')):
            with self.subTest(content=content):
                with open(self.path, 'w') as f:
                    f.write(content)
                self.assertEqual(agent_state.PublishedState(self.path).records, {})
                self.assertTrue(any(message in line and line.startswith('error: ') for line in self.logs), self.logs)
        with open(self.path, 'w') as f:
            json.dump({'version': 1, 'records': {'a': {'bannedAt': 1, 'end': None}, 'b': {'bannedAt': 'x'},
                                                 'c': 'x', 'd': {'bannedAt': 1, 'end': True}}}, f)
        self.assertEqual(agent_state.PublishedState(self.path).records, {'a': {'bannedAt': 1, 'end': None}})
        self.assertIn(f'error: state file {self.path}: ignored 3 malformed entries', self.logs)

    def test_without_a_file_in_memory_only(self):
        state = agent_state.PublishedState(None)
        state.remember(self.ban('192.0.2.10'))
        state.save()
        self.assertEqual(list(state.records), ['sshd.v4-192-0-2-10.node-a'])
        self.assertEqual(os.listdir(self.dir), [])

    def test_an_unwritable_file_is_logged_once_and_kept_in_memory(self):
        state = agent_state.PublishedState(os.path.join(self.dir, 'missing-dir', 'state.json'))
        for ip in ('192.0.2.10', '192.0.2.11'):
            state.remember(self.ban(ip))
            state.save()
        self.assertEqual(len([line for line in self.logs if 'not written' in line]), 1)
        self.assertEqual(len(state.records), 2)

    def test_prune(self):
        state = agent_state.PublishedState(None)
        state.remember(self.ban('192.0.2.10', banned_at=self.now - 200, ban_time=100))  # ended 100 s ago
        state.remember(self.ban('192.0.2.11', banned_at=self.now - 200, ban_time=170))  # ended 30 s ago
        state.remember(self.ban('192.0.2.12', ban_time=-1))
        state.remember(self.ban('192.0.2.13', ban_time=-1))
        state.mark_deleted('sshd.v4-192-0-2-12.node-a', self.now - agent_state.DELETED_RETENTION)
        state.mark_deleted('sshd.v4-192-0-2-13.node-a', self.now - 10)
        state.prune(self.now, 60)
        self.assertEqual(sorted(state.records), ['sshd.v4-192-0-2-11.node-a', 'sshd.v4-192-0-2-13.node-a'])
