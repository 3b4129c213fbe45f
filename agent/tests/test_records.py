"""The ledger record: its name, its checks, and what the agent parses."""

import ipaddress
import json
import unittest
import unittest.mock
from agent import formats, records
from agent.tests.standins import NEVER_BAN, SHARED, local_timezone, record


class RecordNameTest(unittest.TestCase):
    def test_names_from_the_contract(self):
        self.assertEqual(records.record_name('sshd', '192.0.2.10', 'node-b'), 'sshd.v4-192-0-2-10.node-b')
        self.assertEqual(records.record_name('sshd', '2001:db8::10', 'k3s-agent-1'), 'sshd.v6-2001-db8--10.k3s-agent-1')
        self.assertEqual(records.record_name('k3s-apiserver', '203.0.113.7', 'node-b'), 'k3s-apiserver.v4-203-0-113-7.node-b')
        # An address that ends in a separator gets a closing '0' (2001:db8::0 is not canonical, so nothing else has it).
        self.assertEqual(records.record_name('sshd', '2001:db8::', 'node-b'), 'sshd.v6-2001-db8--0.node-b')
        self.assertEqual(records.record_name('sshd', '::', 'node-b'), 'sshd.v6---0.node-b')

    def test_no_invalid_object_names(self):
        with self.assertRaises(ValueError):
            records.record_name('Sshd_Custom', '192.0.2.10', 'node-b')

    def test_canonical_single_addresses_only(self):
        for text in ('192.0.2.10', '2001:db8::10', '203.0.113.255'):
            self.assertIsNotNone(records.canonical_ip(text), text)
        for text in ('192.0.2.010', '2001:DB8::10', '2001:0db8::10', '2001:db8:0:0:0:0:0:10', '192.0.2.0/24',
                     ' 192.0.2.10', 'fe80::1%eth0', '', None, 3221225994, 'example.org'):
            self.assertIsNone(records.canonical_ip(text), text)


class ValidateRecordTest(unittest.TestCase):
    now = 1_800_000_000

    def check(self, obj):
        return records.validate_record(obj, SHARED, NEVER_BAN, self.now)[1]

    def test_a_valid_record(self):
        ban, reason = records.validate_record(record('192.0.2.10', banned_at=self.now - 5), SHARED, NEVER_BAN, self.now)
        self.assertIsNone(reason)
        self.assertEqual((ban.name, ban.ip, ban.node, ban.end), ('sshd.v4-192-0-2-10.node-b', '192.0.2.10', 'node-b',
                                                                self.now - 5 + 3600))
        self.assertIsNone(self.check(record('2001:db8::10', banned_at=self.now)))

    def test_refusals(self):
        cases = {
            '127.0.0.1': 'loopback', '::1': 'loopback', '169.254.1.1': 'link-local', 'fe80::1': 'link-local',
            '224.0.0.1': 'multicast', 'ff02::1': 'multicast', '0.0.0.0': 'unspecified', '::1:0:0:0': 'reserved',
            '240.0.0.1': 'reserved', '198.51.100.7': 'NEVER_BAN 198.51.100.0/24',
            # IPv4-mapped: Python < 3.13 writes ::ffff:c000:201, 3.13 and Go ::ffff:192.0.2.1; refused either way
            str(ipaddress.ip_address('::ffff:192.0.2.1')): 'IPv4-mapped',
            '2001:db8:ffff::1': 'NEVER_BAN 2001:db8:ffff::/48',
        }
        for ip, reason in cases.items():
            with self.subTest(ip=ip):
                self.assertIn(reason, self.check(record(ip, banned_at=self.now)) or '')
        self.assertIn('unspecified', self.check(record('::', banned_at=self.now)))
        self.assertIsNotNone(self.check(record('::ffff:192.0.2.1', banned_at=self.now)))

    def test_malformed_records(self):
        def mutated(**spec):
            obj = record('192.0.2.10', banned_at=self.now)
            obj['spec'].update(spec)
            return obj
        cases = [
            (mutated(ip='2001:DB8::10'), 'canonical'), (mutated(ip='192.0.2.010'), 'canonical'),
            (mutated(ip='192.0.2.0/24'), 'canonical'), (mutated(ip='192.0.2.11'), 'name does not match'),
            (mutated(jail='nginx'), 'name does not match'), (mutated(bannedAt='2026-11-26T10:00:00.5Z'), 'bannedAt'),
            (mutated(bannedAt='2026-11-26T11:00:00+01:00'), 'bannedAt'), (mutated(banTime=True), 'banTime'),
            (mutated(banTime='3600'), 'banTime'), (mutated(banTime=-2), 'banTime'), (mutated(node=''), 'malformed'),
            ({'metadata': {'name': 'x'}}, 'malformed'),
        ]
        for obj, reason in cases:
            with self.subTest(spec=obj.get('spec')):
                self.assertIn(reason, self.check(obj) or '')

    def test_foreign_jail_and_future(self):
        self.assertIn('jail nginx is not shared here', self.check(record('192.0.2.10', jail='nginx', banned_at=self.now)))
        self.assertIn('in the future', self.check(record('192.0.2.10', banned_at=self.now + 61)))
        self.assertIsNone(self.check(record('192.0.2.10', banned_at=self.now + 59)))

    def test_end_is_capped_by_the_mirror(self):
        ban = records.parse_record(record('192.0.2.10', banned_at=self.now, ban_time=-1))
        self.assertIsNone(ban.end)
        self.assertEqual(records.effective_end(ban, 86400), self.now + 86400)
        self.assertIsNone(records.effective_end(ban, -1))
        self.assertEqual(records.format_time(10 ** 30), '@' + str(10 ** 30))  # a huge banTime still logs
        ban = records.parse_record(record('192.0.2.10', banned_at=self.now, ban_time=600))
        self.assertEqual(records.effective_end(ban, 86400), self.now + 600)


class ParsingTest(unittest.TestCase):
    def test_outbox_event(self):
        self.assertEqual(
            formats.parse_outbox_event('{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": 1764151200, '
                                  '"bantime": 86400}\n'),
            {'op': 'ban', 'jail': 'sshd', 'ip': '192.0.2.10', 'time': 1764151200, 'bantime': 86400,
             'restored': False})
        # fail2ban's <time> is a float; an IPv6 address comes out canonical
        event = formats.parse_outbox_event('{"op": "unban", "jail": "sshd", "ip": "2001:DB8:0::10", '
                                      '"time": 1764151200.731, "bantime": -1}')
        self.assertEqual((event['ip'], event['time'], event['bantime']), ('2001:db8::10', 1764151200, -1))
        for bad in ('', 'ban sshd', '{"op": "flush", "jail": "sshd", "ip": "192.0.2.10", "time": 1, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "host.example", "time": 1, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": "soon", "bantime": 1}',
                    '{"op": "ban", "ip": "192.0.2.10", "time": 1, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": Infinity, "bantime": 1}',
                    '{"op": "ban", "jail": "sshd", "ip": "192.0.2.10", "time": 1e20, "bantime": 1}'):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                formats.parse_outbox_event(bad)

    def test_outbox_event_restored_flag(self):
        line = '{"op": "%s", "jail": "sshd", "ip": "192.0.2.10", "time": 1764151200, "bantime": 86400%s}'
        for op in ('ban', 'unban'):
            self.assertTrue(formats.parse_outbox_event(line % (op, ', "restored": 1'))['restored'])
            self.assertFalse(formats.parse_outbox_event(line % (op, ', "restored": 0'))['restored'])
            self.assertFalse(formats.parse_outbox_event(line % (op, ''))['restored'])  # an older action: not restored
        with self.assertRaises(ValueError):
            formats.parse_outbox_event(line % ('ban', ', "restored": "<restored>"'))

    def test_outbox_order(self):
        names = ['1764151200000000010-7.event', '1764151200000000002-9.event', '1764151200000000002-10.event']
        self.assertEqual(sorted(names, key=formats.outbox_order), [names[1], names[2], names[0]])

    def test_watch_event(self):
        etype, obj = formats.parse_watch_event(json.dumps({'type': 'ADDED', 'object': record('192.0.2.10')}))
        self.assertEqual((etype, obj['spec']['ip']), ('ADDED', '192.0.2.10'))
        etype, obj = formats.parse_watch_event('{"type": "ERROR", "object": {"kind": "Status", "code": 410}}')
        self.assertEqual((etype, obj['code']), ('ERROR', 410))
        for bad in ('nope', '{"type": "ADDED"}', '{"type": "SOMETHING", "object": {}}', '{"type": "ADDED", "object": {}}'):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                formats.parse_watch_event(bad)

    def test_banlist_in_local_time(self):
        # the exact lines fail2ban 1.0.2 answers to `get sshd banip --with-time` (server and agent in TZ)
        lines = ['192.0.2.10 \t2026-11-26 11:59:30 + 86400 = 2026-11-27 11:59:30',
                 '2001:db8::10 \t2026-11-26 11:59:30 + -1 = 9999-12-31 23:59:59', 'garbage']
        with local_timezone('Europe/Berlin'):
            bans = formats.parse_banlist(lines)
            self.assertEqual(formats.parse_banlist('\n'.join(lines)), bans)
        start = records.parse_time('2026-11-26T10:59:30Z')  # 11:59:30 CET
        self.assertEqual(bans, [('192.0.2.10', start, 86400), ('2001:db8::10', start, -1)])
