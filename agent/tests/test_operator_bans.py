"""Operator bans (docs/operator-bans.md): OperatorBan orders applied to this node's jails, and its Fail2banNode report."""

import calendar
import ipaddress
import os
import time
import unittest

from agent import config as agent_config, operator_bans, records, reports
from agent.tests.agent_case import AgentTestCase
from agent.tests.standins import (ADMIN, COLLECTION, GROUP, MANAGER, NEVER_BAN, NODES, OPERATOR_BANS, SHARED, record,
                                  rfc3339, wait_for)

OPERATOR_JAILS = {'sshd': 'sshd-operator'}
# The reports of these tests are written for orders only: no heartbeat, no report for the jails' lists alone.
QUIET = dict(heartbeat_seconds=3600, list_report_seconds=3600)


def order(ip, action='ban', jail='sshd', ordered_at=None, expires=None, name=None):
    spec = {'jail': jail, 'ip': ip, 'action': action,
            'orderedAt': rfc3339(int(time.time()) - 5 if ordered_at is None else ordered_at)}
    if expires is not None:
        spec['expires'] = rfc3339(expires)
    return {'apiVersion': f'{GROUP}/v1', 'kind': 'OperatorBan',
            'metadata': {'name': name or records.address_name(jail, ip)}, 'spec': spec}


class OperatorBansTest(AgentTestCase):
    def start_agent(self, **overrides):
        """The agent with operator bans (and ban sharing, unless `shared={}`), once it has listed and watches."""
        shared = overrides.get('shared', SHARED)

        def ready():
            orders = self.agent.orders_synced and self.api.calls('GET', OPERATOR_BANS, watch=True)
            return orders and (not shared or (self.agent.synced and self.api.calls('GET', watch=True)))
        self.start(ready=ready, **{'operator_jails': OPERATOR_JAILS, 'mirror_sync_seconds': 0.05, **QUIET,
                                   **overrides})

    def write(self, obj, token=MANAGER):
        status, body = self.api.call('POST', OPERATOR_BANS, obj, token=token)
        self.assertEqual(status, 201, body)
        return body

    def rewrite(self, name, **spec):
        """The order `name` with `spec` changed, as `kubectl edit` writes it: its generation rises."""
        status, current = self.api.call('GET', f'{OPERATOR_BANS}/{name}', token=MANAGER)
        self.assertEqual(status, 200, current)
        current['spec'].update(spec)
        status, body = self.api.call('PUT', f'{OPERATOR_BANS}/{name}', current, token=MANAGER)
        self.assertEqual(status, 200, body)
        return body

    def delete_order(self, name):
        status, body = self.api.call('DELETE', f'{OPERATOR_BANS}/{name}', token=MANAGER)
        self.assertEqual(status, 200, body)

    def report(self):
        """node-a's Fail2banNode status, {} before the first write."""
        return self.api.objects_of('fail2bannodes').get('node-a', {}).get('status', {})

    def reported(self, name, generation):
        """Waits until the report shows order `name` at `generation`; returns its entry."""
        return wait_for(lambda: (self.report().get('orders', {}).get(name) or {}).get('generation') == generation
                        and self.report()['orders'][name], what=f'the report of {name} at generation {generation}')

    def report_writes(self):
        return [r for r in self.api.requests if r['path'].startswith(NODES) and r['method'] in ('POST', 'PUT')]

    def f2b_sets(self):
        with self.f2b.lock:
            return [tuple(c) for c in self.f2b.commands if c[0] == 'set']

    # ------------------------------------------------------------------ orders applied

    def test_a_ban_order_is_banned_in_the_operator_jail_and_reported_with_its_generation(self):
        self.start_agent()
        written = self.write(order('203.0.113.5'))
        self.assertEqual(written['metadata']['generation'], 1)
        wait_for(lambda: '203.0.113.5' in self.f2b.banned('sshd-operator'), what='the ban in the operator jail')
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 1), {'generation': 1, 'result': 'changed'})
        status = self.report()
        self.assertEqual(status['node'], 'node-a')
        self.assertEqual(status['jails']['sshd-operator'], {'count': 1, 'addresses': ['203.0.113.5']})
        self.assertEqual(set(status['jails']), {'sshd', 'sshd-operator', 'sshd-cluster'})
        self.assertEqual(self.f2b.banned('sshd'), set())
        self.rewrite('sshd.v4-203-0-113-5', reason='port scan')  # banned already: nothing changes in fail2ban
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 2), {'generation': 2, 'result': 'unchanged'})
        self.assertEqual(self.f2b.count('set', 'sshd-operator', 'banip', '203.0.113.5'), 2)
        self.assertEqual([(w['method'], w['status']) for w in self.report_writes()],
                         [('POST', 201)] + [('PUT', 200)] * (len(self.report_writes()) - 1))

    def test_a_timed_ban_ends_at_its_expiry(self):
        now = int(self.clock())
        self.start_agent()
        self.write(order('203.0.113.6', expires=now + 60))
        self.write(order('203.0.113.8'))  # permanent
        wait_for(lambda: self.f2b.banned('sshd-operator') == {'203.0.113.6', '203.0.113.8'}, what='both bans')
        self.clock.advance(61)
        wait_for(lambda: self.f2b.banned('sshd-operator') == {'203.0.113.8'}, what='the timed ban ended')
        self.log_with('order sshd.v4-203-0-113-6 expired: unbanned 203.0.113.6 in sshd-operator')

    def test_an_expired_ban_order_bans_nothing(self):
        now = int(self.clock())
        self.start_agent()
        self.write(order('203.0.113.6', ordered_at=now - 120, expires=now - 60))
        self.assertEqual(self.reported('sshd.v4-203-0-113-6', 1)['result'], 'unchanged')
        self.assertNotIn(('set', 'sshd-operator', 'banip', '203.0.113.6'), self.f2b_sets())

    def test_an_unban_order_unbans_the_jail_its_operator_jail_and_its_mirror(self):
        now = int(time.time())
        for jail in ('sshd', 'sshd-operator'):
            self.f2b.bans[jail]['203.0.113.7'] = (now - 100, 3600)
        self.api.inject(record('203.0.113.7', node='node-b', banned_at=now - 100))
        self.start_agent()
        wait_for(lambda: '203.0.113.7' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.write(order('203.0.113.7', action='unban'))
        self.assertEqual(self.reported('sshd.v4-203-0-113-7', 1), {'generation': 1, 'result': 'changed'})
        for jail in ('sshd', 'sshd-operator', 'sshd-cluster'):
            self.assertNotIn('203.0.113.7', self.f2b.banned(jail), jail)
            self.assertEqual(self.f2b.count('set', jail, 'unbanip', '203.0.113.7'), 1, jail)
        wait_for(lambda: self.report()['jails']['sshd']['count'] == 0, what='the jails reported without it')

    def test_a_record_banned_before_an_unban_order_is_refused_and_not_applied_again(self):
        now = int(time.time())
        self.api.inject(record('203.0.113.7', node='node-b', banned_at=now - 100))
        self.start_agent()
        wait_for(lambda: '203.0.113.7' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.write(order('203.0.113.7', action='unban', ordered_at=now - 10))
        self.log_with(f'refused sshd.v4-203-0-113-7.node-b from node-b: bannedAt {rfc3339(now - 100)} is not after '
                      f'the unban order of {rfc3339(now - 10)}')
        self.assertNotIn('203.0.113.7', self.f2b.banned('sshd-cluster'))
        # fail2ban restores it from its database: the mirror sync does not adopt it, it unbans it
        self.f2b.bans['sshd-cluster']['203.0.113.7'] = (now - 100, 86400)
        wait_for(lambda: '203.0.113.7' not in self.f2b.banned('sshd-cluster'), what='the restored ban unbanned')
        self.mirror_syncs()
        self.assertEqual(self.f2b.count('set', 'sshd-cluster', 'banip', '203.0.113.7'), 1)  # before the order only
        self.assertNotIn('203.0.113.7', self.f2b.banned('sshd-cluster'))
        # a ban after the order is a new one
        self.api.inject(record('203.0.113.7', node='node-c', banned_at=now - 5))
        wait_for(lambda: '203.0.113.7' in self.f2b.banned('sshd-cluster'), what='the later record applied')

    def test_an_agent_started_after_an_unban_order_never_applies_the_records_it_refuses(self):
        now = int(time.time())
        self.api.inject(record('203.0.113.7', node='node-b', banned_at=now - 100))
        self.write(order('203.0.113.7', action='unban', ordered_at=now - 10))
        self.start_agent()
        self.reported('sshd.v4-203-0-113-7', 1)
        self.ledger_barrier()
        self.mirror_syncs()
        self.assertNotIn(('set', 'sshd-cluster', 'banip', '203.0.113.7'), self.f2b_sets())

    def mirror_syncs(self, count=2):
        """Waits until `count` more syncs of the mirror have begun: once the second has, the first has ended."""
        begun = self.f2b.count('get', 'sshd-cluster', 'banip')
        wait_for(lambda: self.f2b.count('get', 'sshd-cluster', 'banip') >= begun + count, what='mirror syncs')

    def test_invalid_orders_are_refused_with_the_reason_and_nothing_is_banned(self):
        # The CRD's rules refuse these; an older CRD, or an object restored around them, may still hold them.
        invalid = {
            'sshd.v4-198-51-100-7': (order('198.51.100.7'), '198.51.100.7 may never be banned: inside NEVER_BAN'),
            'sshd.v4-127-0-0-1': (order('127.0.0.1'), '127.0.0.1 may never be banned: loopback address'),
            'nginx.v4-203-0-113-9': (order('203.0.113.9', jail='nginx'), "unknown jail 'nginx'"),
            'sshd.v4-203-0-113-99': (order('203.0.113.9', name='sshd.v4-203-0-113-99'),
                                     'name does not match the spec (expected sshd.v4-203-0-113-9)'),
            'sshd.v6-2001-db8--5': (order('2001:DB8::5', name='sshd.v6-2001-db8--5'),
                                    "ip '2001:DB8::5' is not a canonical single address"),
            'sshd.v4-203-0-113-10': (order('203.0.113.10', action='unban', expires=int(time.time()) + 60),
                                     'expires is for bans only'),
        }
        for obj, _ in invalid.values():
            self.write(obj, token=ADMIN)
        self.start_agent()
        self.write(order('203.0.113.11'))
        self.reported('sshd.v4-203-0-113-11', 1)
        for name, (_, reason) in invalid.items():
            entry = self.reported(name, 1)
            self.assertEqual(entry['result'], 'refused', name)
            self.assertIn(reason, entry['detail'], name)
            self.log_with(f'refused order {name}: {reason}')
        self.assertEqual(self.f2b_sets(), [('set', 'sshd-operator', 'banip', '203.0.113.11')])
        self.assertEqual(self.f2b.banned('sshd-operator'), {'203.0.113.11'})

    def test_deleting_a_ban_order_lifts_its_ban_and_deleting_an_unban_order_does_nothing(self):
        self.start_agent()
        self.write(order('203.0.113.5'))
        self.write(order('203.0.113.7', action='unban'))
        self.reported('sshd.v4-203-0-113-7', 1)
        wait_for(lambda: '203.0.113.5' in self.f2b.banned('sshd-operator'), what='the ban')
        self.f2b.bans['sshd']['203.0.113.7'] = (int(time.time()), 3600)  # fail2ban bans it again, on its own
        self.delete_order('sshd.v4-203-0-113-5')
        self.delete_order('sshd.v4-203-0-113-7')
        wait_for(lambda: not self.f2b.banned('sshd-operator'), what='the ban lifted')
        wait_for(lambda: not self.report()['orders'], what='the report without the deleted orders')
        self.assertEqual(self.f2b.banned('sshd'), {'203.0.113.7'})
        self.assertEqual(self.f2b.count('set', 'sshd', 'unbanip', '203.0.113.7'), 1)

    def test_the_operator_jail_is_synced_with_the_orders(self):
        now = int(time.time())
        self.f2b.bans['sshd-operator']['203.0.113.99'] = (now, -1)  # its order was deleted while the agent was down
        self.start_agent()
        self.write(order('203.0.113.5'))
        wait_for(lambda: self.f2b.banned('sshd-operator') == {'203.0.113.5'}, what='the stray unbanned')
        self.log_with('unbanned 203.0.113.99 in sshd-operator: no order holds it')
        with self.f2b.lock:  # fail2ban restarted without its database
            self.f2b.bans['sshd-operator'].clear()
        wait_for(lambda: self.f2b.banned('sshd-operator') == {'203.0.113.5'}, what='the lost ban banned again')
        self.log_with('re-banned 203.0.113.5 in sshd-operator: fail2ban had lost it')

    # ------------------------------------------------------------------ catching up after a restart

    def test_an_agent_started_after_the_orders_were_written_applies_them(self):
        self.write(order('203.0.113.5'))
        self.write(order('2001:db8::7', action='unban'))
        self.f2b.bans['sshd']['2001:db8::7'] = (int(time.time()), 3600)
        self.start_agent(shared={})
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 1)['result'], 'changed')
        self.assertEqual(self.reported('sshd.v6-2001-db8--7', 1)['result'], 'changed')
        self.assertEqual(self.f2b.banned('sshd-operator'), {'203.0.113.5'})
        self.assertEqual(self.f2b.banned('sshd'), set())

    def test_an_agent_whose_report_shows_orders_applied_applies_exactly_the_others(self):
        now = int(time.time())
        self.write(order('203.0.113.5'))  # applied before the restart
        self.write(order('203.0.113.6', action='unban'))  # applied before the restart
        self.write(order('203.0.113.7'))
        self.rewrite('sshd.v4-203-0-113-7', action='unban')  # generation 2: the report shows 1
        self.write(order('203.0.113.8'))  # not in the report
        status, body = self.api.call('POST', NODES, {
            'apiVersion': f'{GROUP}/v1', 'kind': 'Fail2banNode', 'metadata': {'name': 'node-a'},
            'status': {'node': 'node-a', 'reportedAt': rfc3339(now - 600), 'orders': {
                'sshd.v4-203-0-113-5': {'generation': 1, 'result': 'changed'},
                'sshd.v4-203-0-113-6': {'generation': 1, 'result': 'unchanged'},
                'sshd.v4-203-0-113-7': {'generation': 1, 'result': 'changed'},
                'sshd.v4-203-0-113-9': {'generation': 3, 'result': 'changed'},  # deleted meanwhile
            }}}, token='token-a')
        self.assertEqual(status, 201, body)
        for ip in ('203.0.113.5', '203.0.113.7'):  # fail2ban restored the bans from its database
            self.f2b.bans['sshd-operator'][ip] = (now - 600, -1)
        self.start_agent(shared={})
        self.reported('sshd.v4-203-0-113-7', 2)
        self.reported('sshd.v4-203-0-113-8', 1)
        self.assertEqual(sorted(self.f2b_sets()), [('set', 'sshd', 'unbanip', '203.0.113.7'),
                                                   ('set', 'sshd-operator', 'banip', '203.0.113.8'),
                                                   ('set', 'sshd-operator', 'unbanip', '203.0.113.7')])
        self.assertEqual(self.f2b.banned('sshd-operator'), {'203.0.113.5', '203.0.113.8'})
        self.assertEqual(self.report()['orders'], {
            'sshd.v4-203-0-113-5': {'generation': 1, 'result': 'changed'},
            'sshd.v4-203-0-113-6': {'generation': 1, 'result': 'unchanged'},
            'sshd.v4-203-0-113-7': {'generation': 2, 'result': 'changed'},
            'sshd.v4-203-0-113-8': {'generation': 1, 'result': 'changed'},
        })
        self.assertEqual(self.report_writes()[0]['method'], 'PUT')  # the object exists: no POST

    # ------------------------------------------------------------------ the report

    def test_orders_written_at_once_make_one_report_write(self):
        count = 50
        self.start_agent()
        wait_for(self.report_writes, what='the first report')
        before = len(self.report_writes())
        with self.f2b.lock:  # the agent's first fail2ban command waits: the other orders queue up behind it
            for i in range(count):
                self.write(order(f'203.0.113.{100 + i}'))
            wait_for(lambda: self.agent.queue.qsize() >= count - 1, what='the orders queued')
        wait_for(lambda: len(self.report().get('orders', {})) == count, what='every order reported')
        self.assertEqual(len(self.f2b.banned('sshd-operator')), count)
        self.assertLessEqual(len(self.report_writes()) - before, 2)

    def test_a_conflicting_write_of_the_report_is_read_again_and_written(self):
        self.start_agent()
        wait_for(self.report_writes, what='the first report')
        status, current = self.api.call('GET', f'{NODES}/node-a', token=ADMIN)
        current['metadata']['labels'] = {'example.org/touched': 'yes'}
        self.assertEqual(self.api.call('PUT', f'{NODES}/node-a', current, token=ADMIN)[0], 200)
        self.write(order('203.0.113.5'))
        self.reported('sshd.v4-203-0-113-5', 1)
        self.assertEqual([(w['method'], w['status']) for w in self.report_writes()],
                         [('POST', 201), ('PUT', 409), ('PUT', 200)])

    def test_a_change_of_the_jails_alone_is_reported_at_the_list_interval(self):
        self.start_agent(list_report_seconds=0.1)
        wait_for(self.report_writes, what='the first report')
        self.f2b.bans['sshd']['203.0.113.20'] = (int(time.time()), 3600)  # fail2ban's own ban: no order changes
        wait_for(lambda: self.report().get('jails', {}).get('sshd') == {'count': 1, 'addresses': ['203.0.113.20']},
                 what='the new list reported')
        writes = len(self.report_writes())
        for _ in range(2):  # listings that find no change write nothing
            listed = self.f2b.count('get', 'sshd', 'banip')
            wait_for(lambda listed=listed: self.f2b.count('get', 'sshd', 'banip') > listed, what='another listing')
        self.assertEqual(len(self.report_writes()), writes)

    def test_without_ban_sharing_no_request_touches_bans(self):
        self.start_agent(shared={})
        self.write(order('203.0.113.5'))
        self.write(order('203.0.113.7', action='unban'))
        self.reported('sshd.v4-203-0-113-5', 1)
        self.reported('sshd.v4-203-0-113-7', 1)
        self.assertEqual([r for r in self.api.requests if r['path'].startswith(COLLECTION)], [])
        self.assertEqual(self.f2b.count('set', 'sshd-cluster', 'unbanip', '203.0.113.7'), 0)  # no mirror
        self.assertNotIn('sshd-cluster', self.report()['jails'])
        wait_for(lambda: os.path.exists(self.status_file),
                 what='the status file touched by the order watcher')


class OperatorBanDecisionsTest(unittest.TestCase):
    now = 1_800_000_000

    def order(self, ip='203.0.113.5', **kwargs):
        obj = order(ip, ordered_at=self.now - 10, **kwargs)
        obj['metadata']['generation'] = 3
        return obj

    def test_check_order(self):
        checked, reason = operator_bans.check_order(self.order(expires=self.now + 60), OPERATOR_JAILS, NEVER_BAN)
        self.assertIsNone(reason)
        self.assertEqual(checked, operator_bans.Order('sshd.v4-203-0-113-5', 'sshd', '203.0.113.5', 'ban',
                                                      self.now - 10, self.now + 60, 3))
        unban_of_never_ban = self.order('198.51.100.7', action='unban')
        self.assertIsNone(operator_bans.check_order(unban_of_never_ban, OPERATOR_JAILS, NEVER_BAN)[1])
        fraction = self.order()
        fraction['spec']['orderedAt'] = '2027-01-15T08:00:00.250+01:00'
        self.assertEqual(operator_bans.check_order(fraction, OPERATOR_JAILS, NEVER_BAN)[0].ordered_at,
                         calendar.timegm((2027, 1, 15, 7, 0, 0)) + 0.25)
        self.assertEqual(operator_bans.check_order({'metadata': {}}, OPERATOR_JAILS, NEVER_BAN), (None, 'malformed order'))
        bad_time = self.order()
        bad_time['spec']['orderedAt'] = 'yesterday'
        self.assertEqual(operator_bans.check_order(bad_time, OPERATOR_JAILS, NEVER_BAN)[1],
                         "orderedAt 'yesterday' is not an RFC 3339 time")

    def test_order_commands(self):
        ban, _ = operator_bans.check_order(self.order(expires=self.now + 60), OPERATOR_JAILS, NEVER_BAN)
        unban, _ = operator_bans.check_order(self.order(action='unban'), OPERATOR_JAILS, NEVER_BAN)
        self.assertEqual(operator_bans.order_commands(ban, OPERATOR_JAILS, SHARED, self.now),
                         [('set', 'sshd-operator', 'banip', '203.0.113.5')])
        self.assertEqual(operator_bans.order_commands(ban, OPERATOR_JAILS, SHARED, self.now + 60),
                         [('set', 'sshd-operator', 'unbanip', '203.0.113.5')])
        self.assertEqual(operator_bans.order_commands(unban, OPERATOR_JAILS, SHARED, self.now),
                         [('set', jail, 'unbanip', '203.0.113.5') for jail in ('sshd', 'sshd-operator', 'sshd-cluster')])
        self.assertEqual(operator_bans.order_commands(unban, OPERATOR_JAILS, {}, self.now),
                         [('set', jail, 'unbanip', '203.0.113.5') for jail in ('sshd', 'sshd-operator')])

    def test_unban_orders_refuse_records_banned_up_to_their_time(self):
        unbans = {('sshd', '203.0.113.5'): self.now}
        for banned_at, refused in ((self.now - 1, True), (self.now, True), (self.now + 1, False)):
            ban, reason = records.validate_record(record('203.0.113.5', banned_at=banned_at), SHARED, NEVER_BAN,
                                                  self.now + 10, unbans=unbans)
            self.assertEqual(reason is not None, refused, banned_at)
        other_jail = records.Ban('x', '203.0.113.5', 'nginx', 'node-b', self.now - 1, 60, None, None)
        self.assertIsNone(records.unban_order_refusal(other_jail, unbans))

    def test_applied_generations_and_the_operator_jail_plan(self):
        report = {'status': {'orders': {'a': {'generation': 2, 'result': 'changed'},
                                        'b': {'generation': 1, 'result': 'refused', 'detail': 'x'},
                                        'c': {'generation': '1', 'result': 'unchanged'}, 'd': 'junk'}}}
        self.assertEqual(operator_bans.applied_generations(report), {'a': {'generation': 2, 'result': 'changed'}})
        self.assertEqual(operator_bans.applied_generations(None), {})
        self.assertEqual(operator_bans.operator_jail_plan({'203.0.113.5', '2001:db8::1'}, ['2001:DB8::1', '203.0.113.9']),
                         (['203.0.113.5'], ['203.0.113.9']))

    def test_report_lists_at_most_max_listed_addresses_in_order(self):
        banned = [str(ipaddress.ip_address('2001:db8::') + i) for i in range(600)] + \
                 [f'{network}.{i}' for network in ('192.0.2', '198.51.100', '203.0.113') for i in range(200)]
        listing = reports.jail_listing(banned[::-1])
        self.assertEqual(listing['count'], 1200)
        self.assertEqual(len(listing['addresses']), reports.MAX_LISTED)
        self.assertEqual(listing['addresses'][:3], ['192.0.2.0', '192.0.2.1', '192.0.2.2'])  # numeric, not text
        self.assertEqual(listing['addresses'][599:601], ['203.0.113.199', '2001:db8::'])
        status = reports.report_status('node-a', {'x': {'generation': 1, 'result': 'refused', 'detail': 'y' * 600}},
                                       {'sshd': listing}, None, self.now)
        self.assertEqual(len(status['orders']['x']['detail']), reports.MAX_DETAIL)
        self.assertEqual(status['reportedAt'], rfc3339(self.now))
        self.assertNotIn('error', status)

    def test_operator_jails_from_the_environment(self):
        config = agent_config.config_from_env({'NODE_NAME': 'node-a', 'OPERATOR_JAILS': '{"sshd": "sshd-operator"}'})
        self.assertEqual(config.operator_jails, OPERATOR_JAILS)
        self.assertEqual(agent_config.config_from_env({'NODE_NAME': 'node-a'}).operator_jails, {})
        for text in ('["sshd"]', '{"sshd": ""}', '{"sshd": "sshd"}', '{"Bad_Jail": "x"}'):
            with self.assertRaises(ValueError, msg=text):
                agent_config.parse_operator_jails(text)
