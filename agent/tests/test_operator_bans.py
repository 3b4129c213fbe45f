"""Operator bans (docs/operator-bans.md): OperatorBan orders applied to this node's jails, and its Fail2banNode report."""

import calendar
import contextlib
import datetime
import ipaddress
import os
import re
import time
import unittest
from unittest import mock

from agent import agent as node, config as agent_config, operator_bans, records, reports
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
        uid = written['metadata']['uid']
        wait_for(lambda: '203.0.113.5' in self.f2b.banned('sshd-operator'), what='the ban in the operator jail')
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 1), {'uid': uid, 'generation': 1, 'result': 'changed'})
        status = self.report()
        self.assertEqual(status['node'], 'node-a')
        self.assertEqual(status['jails']['sshd-operator'], {'count': 1, 'addresses': ['203.0.113.5']})
        self.assertEqual(set(status['jails']), {'sshd', 'sshd-operator', 'sshd-cluster'})
        self.assertEqual(self.f2b.banned('sshd'), set())
        self.rewrite('sshd.v4-203-0-113-5', reason='port scan')  # banned already: nothing changes in fail2ban
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 2), {'uid': uid, 'generation': 2, 'result': 'unchanged'})
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
        written = self.write(order('203.0.113.7', action='unban'))
        self.assertEqual(self.reported('sshd.v4-203-0-113-7', 1),
                         {'uid': written['metadata']['uid'], 'generation': 1, 'result': 'changed'})
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

    def operator_syncs(self, count=2):
        """Waits until `count` more syncs of the operator jail have begun: once the second has, the first has ended."""
        begun = self.f2b.count('get', 'sshd-operator', 'banip')
        wait_for(lambda: self.f2b.count('get', 'sshd-operator', 'banip') >= begun + count, what='operator jail syncs')

    def test_an_unban_order_applied_late_lifts_only_the_bans_that_began_before_it(self):
        # A node that was down (or is new) applies the order later: the attacker may have come back meanwhile.
        now = int(time.time())
        self.f2b.bans['sshd']['203.0.113.7'] = (now - 5, 3600)  # banned again after the order
        self.f2b.bans['sshd']['203.0.113.8'] = (now - 100, 3600)  # the ban the operator lifted
        for ip in ('203.0.113.7', '203.0.113.8'):
            self.write(order(ip, action='unban', ordered_at=now - 60))
        self.start_agent()
        self.assertEqual(self.reported('sshd.v4-203-0-113-7', 1)['result'], 'unchanged')
        self.assertEqual(self.reported('sshd.v4-203-0-113-8', 1)['result'], 'changed')
        self.assertEqual(self.f2b.banned('sshd'), {'203.0.113.7'})
        self.operator_syncs()  # nor do the syncs lift it
        self.assertEqual(self.f2b.banned('sshd'), {'203.0.113.7'})
        self.assertEqual(self.f2b.count('set', 'sshd', 'unbanip', '203.0.113.7'), 0)
        self.assertEqual(self.f2b.count('set', 'sshd', 'unbanip', '203.0.113.8'), 1)

    def test_a_node_catching_up_on_unban_orders_lists_the_jail_once(self):
        now = int(time.time())
        addresses = [f'203.0.113.{i}' for i in range(20, 30)]
        for ip in addresses:
            self.f2b.bans['sshd'][ip] = (now - 600, 3600)
            self.write(order(ip, action='unban', ordered_at=now - 60))
        self.start_agent(shared={})
        for ip in addresses:
            self.assertEqual(self.reported(records.address_name('sshd', ip), 1)['result'], 'changed')
        self.assertEqual(self.f2b.banned('sshd'), set())
        self.operator_syncs()  # the syncs find none of the addresses banned: no listing with times
        self.assertEqual(self.f2b.count('get', 'sshd', 'banip', '--with-time'), 1)

    def test_a_ban_restored_after_its_unban_order_was_applied_is_unbanned_at_the_sync(self):
        now = int(time.time())
        self.start_agent()
        self.write(order('203.0.113.7', action='unban', ordered_at=now - 60))
        self.assertEqual(self.reported('sshd.v4-203-0-113-7', 1)['result'], 'unchanged')  # fail2ban still restoring
        self.f2b.bans['sshd']['203.0.113.7'] = (now - 600, 86400)  # and now it has restored the ban from its database
        wait_for(lambda: '203.0.113.7' not in self.f2b.banned('sshd'), what='the restored ban unbanned')
        self.log_with('unbanned 203.0.113.7 in sshd: banned at or before the unban order sshd.v4-203-0-113-7')
        self.f2b.bans['sshd']['203.0.113.7'] = (now - 5, 3600)  # back after the order: a new ban
        self.operator_syncs(3)
        self.assertEqual(self.f2b.banned('sshd'), {'203.0.113.7'})
        self.assertEqual(self.f2b.count('set', 'sshd', 'unbanip', '203.0.113.7'), 1)

    def test_an_unban_order_keeps_the_mirror_ban_of_a_record_banned_after_it(self):
        now = int(time.time())
        self.api.inject(record('203.0.113.7', node='node-b', banned_at=now - 5))  # banned again after the order
        self.api.inject(record('203.0.113.7', node='node-c', banned_at=now - 100))  # the ban the operator lifted
        self.start_agent()
        wait_for(lambda: len(self.agent.applied) == 2, what='both records applied')
        bans = self.f2b.count('set', 'sshd-cluster', 'banip', '203.0.113.7')
        self.write(order('203.0.113.7', action='unban', ordered_at=now - 60))
        self.assertEqual(self.reported('sshd.v4-203-0-113-7', 1)['result'], 'unchanged')
        self.log_with('refused sshd.v4-203-0-113-7.node-c from node-c')
        self.ledger_barrier()
        self.mirror_syncs()
        self.assertIn('203.0.113.7', self.f2b.banned('sshd-cluster'))
        self.assertEqual(self.f2b.count('set', 'sshd-cluster', 'unbanip', '203.0.113.7'), 0)
        self.assertEqual(self.f2b.count('set', 'sshd-cluster', 'banip', '203.0.113.7'), bans)  # not applied again

    def test_an_expired_ban_whose_unban_fails_does_not_make_the_main_loop_spin(self):
        self.start_agent(shared={})
        self.write(order('203.0.113.6', expires=int(self.clock()) + 60))
        wait_for(lambda: '203.0.113.6' in self.f2b.banned('sshd-operator'), what='the timed ban')
        waits, queue_get = [], self.agent.queue.get

        def get(block=True, timeout=None):  # the main loop's wait for the watchers' items
            waits.append(timeout)
            return queue_get(block, timeout)
        self.agent.queue.get = get
        unban = ('set', 'sshd-operator', 'unbanip', '203.0.113.6')
        self.f2b.refusing.add(unban)  # fail2ban is stopping: the unban at the end fails, and is tried every round
        self.clock.advance(61)
        wait_for(lambda: self.f2b.count(*unban) >= 2, what='the unban tried again')
        since = len(waits)
        wait_for(lambda: self.f2b.count(*unban) >= 6, what='more rounds')
        rounds = [timeout for timeout in waits[since:] if timeout is not None]
        self.assertTrue(rounds)
        self.assertGreaterEqual(min(rounds), self.agent.cfg.tick)  # the end already past does not shorten the wait
        self.f2b.refusing.clear()
        wait_for(lambda: '203.0.113.6' not in self.f2b.banned('sshd-operator'), what='the unban once fail2ban answers')

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
        self.assertEqual(self.f2b.count('set', 'sshd', 'unbanip', '203.0.113.7'), 0)  # a ban after the order

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
        self.f2b.bans['sshd']['2001:db8::7'] = (int(time.time()) - 60, 3600)  # banned before the order
        self.start_agent(shared={})
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 1)['result'], 'changed')
        self.assertEqual(self.reported('sshd.v6-2001-db8--7', 1)['result'], 'changed')
        self.assertEqual(self.f2b.banned('sshd-operator'), {'203.0.113.5'})
        self.assertEqual(self.f2b.banned('sshd'), set())

    def write_report(self, orders, now):
        """node-a's report as an earlier run of its agent wrote it."""
        status, body = self.api.call('POST', NODES, {
            'apiVersion': f'{GROUP}/v1', 'kind': 'Fail2banNode', 'metadata': {'name': 'node-a'},
            'status': {'node': 'node-a', 'reportedAt': rfc3339(now - 600), 'orders': orders}}, token='token-a')
        self.assertEqual(status, 201, body)

    def test_an_agent_whose_report_shows_orders_applied_applies_exactly_the_others(self):
        now = int(time.time())
        uids = {ip: self.write(order(ip, **spec))['metadata']['uid'] for ip, spec in (
            ('203.0.113.5', {}),  # applied before the restart
            ('203.0.113.6', {'action': 'unban'}),  # applied before the restart
            ('203.0.113.7', {}),
            ('203.0.113.8', {}))}  # not in the report
        self.rewrite('sshd.v4-203-0-113-7', action='unban')  # generation 2: the report shows 1
        self.f2b.bans['sshd']['203.0.113.7'] = (now - 600, 3600)  # banned before the unban order
        self.write_report({
            'sshd.v4-203-0-113-5': {'uid': uids['203.0.113.5'], 'generation': 1, 'result': 'changed'},
            'sshd.v4-203-0-113-6': {'uid': uids['203.0.113.6'], 'generation': 1, 'result': 'unchanged'},
            'sshd.v4-203-0-113-7': {'uid': uids['203.0.113.7'], 'generation': 1, 'result': 'changed'},
            'sshd.v4-203-0-113-9': {'uid': 'a-deleted-order', 'generation': 3, 'result': 'changed'},
        }, now)
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
            'sshd.v4-203-0-113-5': {'uid': uids['203.0.113.5'], 'generation': 1, 'result': 'changed'},
            'sshd.v4-203-0-113-6': {'uid': uids['203.0.113.6'], 'generation': 1, 'result': 'unchanged'},
            'sshd.v4-203-0-113-7': {'uid': uids['203.0.113.7'], 'generation': 2, 'result': 'changed'},
            'sshd.v4-203-0-113-8': {'uid': uids['203.0.113.8'], 'generation': 1, 'result': 'changed'},
        })
        self.assertEqual(self.report_writes()[0]['method'], 'PUT')  # the object exists: no POST

    def test_an_order_deleted_and_created_again_while_the_agent_was_down_is_applied(self):
        # The report shows the old object at the same name and generation: only its uid tells them apart.
        now = int(time.time())
        self.f2b.bans['sshd']['203.0.113.7'] = (now - 100, 3600)
        written = self.write(order('203.0.113.7', action='unban', ordered_at=now - 60))
        self.write_report({'sshd.v4-203-0-113-7': {'uid': 'uid-of-the-deleted-order', 'generation': 1,
                                                   'result': 'unchanged'}}, now)
        self.start_agent(shared={})
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban order applied')
        self.assertEqual(wait_for(lambda: self.report().get('orders', {}).get('sshd.v4-203-0-113-7', {}).get('uid')
                                  == written['metadata']['uid'] and self.report()['orders']['sshd.v4-203-0-113-7'],
                                  what='the new order reported'),
                         {'uid': written['metadata']['uid'], 'generation': 1, 'result': 'changed'})

    def test_an_order_applied_before_a_change_of_the_configuration_is_refused_now(self):
        # Applied while 198.51.100.0/24 was not in NEVER_BAN; it is now.
        now = int(time.time())
        written = self.write(order('198.51.100.7'), token=ADMIN)
        self.write_report({'sshd.v4-198-51-100-7': {'uid': written['metadata']['uid'], 'generation': 1,
                                                    'result': 'changed'}}, now)
        self.f2b.bans['sshd-operator']['198.51.100.7'] = (now - 600, -1)  # restored from fail2ban's database
        self.start_agent(shared={})
        entry = wait_for(lambda: (self.report().get('orders', {}).get('sshd.v4-198-51-100-7') or {}).get('result')
                         == 'refused' and self.report()['orders']['sshd.v4-198-51-100-7'], what='the order refused')
        self.assertIn('198.51.100.7 may never be banned: inside NEVER_BAN', entry['detail'])
        wait_for(lambda: not self.f2b.banned('sshd-operator'), what='its ban lifted by the sync')

    # ------------------------------------------------------------------ the report

    def test_the_reporter_survives_an_unexpected_error(self):
        list_jails, calls = node.NodeAgent.list_jails, []

        def failing_once(agent):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError('something unexpected')
            return list_jails(agent)
        patcher = mock.patch.object(node.NodeAgent, 'list_jails', failing_once)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.start_agent(shared={})
        self.write(order('203.0.113.5'))
        self.assertEqual(self.reported('sshd.v4-203-0-113-5', 1)['result'], 'changed')
        self.log_with("error: reporter: RuntimeError('something unexpected')")


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
        self.assertEqual(operator_bans.order_commands(ban, OPERATOR_JAILS, self.now),
                         [('set', 'sshd-operator', 'banip', '203.0.113.5')])
        self.assertEqual(operator_bans.order_commands(ban, OPERATOR_JAILS, self.now + 60),
                         [('set', 'sshd-operator', 'unbanip', '203.0.113.5')])
        # the jail and the mirror: only what began at or before the order (lifted_bans, record refusal)
        self.assertEqual(operator_bans.order_commands(unban, OPERATOR_JAILS, self.now),
                         [('set', 'sshd-operator', 'unbanip', '203.0.113.5')])

    def test_an_unban_order_lifts_only_bans_that_began_at_or_before_it(self):
        listing = [('203.0.113.5', self.now - 1, 3600), ('203.0.113.6', self.now, -1), ('203.0.113.7', self.now + 1, 60),
                   ('2001:DB8::5', self.now - 60, 60), ('192.0.2.9', self.now - 60, 60), ('junk', self.now - 60, 60)]
        unbans = {ip: self.now for ip in ('203.0.113.5', '203.0.113.6', '203.0.113.7', '2001:db8::5', 'junk')}
        self.assertEqual(operator_bans.lifted_bans(listing, unbans), ['2001:db8::5', '203.0.113.5', '203.0.113.6'])
        self.assertEqual(operator_bans.lifted_bans([], unbans), [])

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

    def test_rfc3339_times_with_any_number_of_fraction_digits_also_on_python_3_10(self):
        base = calendar.timegm((2027, 1, 15, 7, 0, 0))
        valid = {'2027-01-15T07:00:00Z': 0, '2027-01-15T07:00:00.5Z': 0.5, '2027-01-15T07:00:00.25Z': 0.25,
                 '2027-01-15T07:00:00.1250Z': 0.125, '2027-01-15T07:00:00.12345Z': 0.12345,
                 '2027-01-15T07:00:00.123456789Z': 0.123456, '2027-01-15T07:00:00.000Z': 0,
                 '2027-01-15T08:00:00.5+01:00': 0.5, '2027-01-14T23:00:00.75-08:00': 0.75,
                 '2027-01-15T12:30:00+05:30': 0, '2027-01-15T07:00:00-00:00': 0}
        invalid = ['2027-01-15T07:00:00', '2027-01-15 07:00:00Z', '2027-01-15T07:00:00.Z', '2027-01-15t07:00:00z',
                   '2027-01-15T07:00:00+0100', '2027-01-15T07:00Z', '2027-13-15T07:00:00Z', '2027-01-15T24:00:00Z',
                   '2027-01-15T07:00:00+25:00', '2027-01-15T07:00:00Z\n', '\uff12027-01-15T07:00:00Z',
                   '2027-01-15T07:00:00.\u0661Z', None, 1800000000]
        for python in ('this one', '3.10'):
            with mock.patch.object(operator_bans, 'datetime', Python310Datetime) if python == '3.10' \
                    else contextlib.nullcontext():
                for text, fraction in valid.items():
                    self.assertAlmostEqual(operator_bans.parse_rfc3339(text, 'orderedAt'), base + fraction, delta=1e-6,
                                           msg=f'{text} on {python}')
                for text in invalid:
                    with self.assertRaisesRegex(ValueError, r'^orderedAt .* is not an RFC 3339 time$',
                                                msg=f'{text!r} on {python}'):
                        operator_bans.parse_rfc3339(text, 'orderedAt')
        self.assertEqual(operator_bans.RFC3339_PATTERN,
                         r'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$')

    def test_a_report_lists_only_addresses(self):
        # The CRD takes strings of at most 39 characters: one entry that is no address would fail every write.
        listing = reports.jail_listing(['203.0.113.5', 'not-an-address', '2001:DB8::1', '2001:db8::1',
                                        '2001:db8::2%eth0', '192.0.2.0/24', '', 'x' * 60, None, 7,
                                        '2001:0db8:0000:0000:0000:0000:0000:0003'])
        self.assertEqual(listing, {'count': 3, 'addresses': ['203.0.113.5', '2001:db8::1', '2001:db8::3']})
        self.assertEqual(reports.jail_listing('203.0.113.9 junk 192.0.2.1'),
                         {'count': 2, 'addresses': ['192.0.2.1', '203.0.113.9']})

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


class Python310Datetime(datetime.datetime):
    """datetime as Python 3.10 parses ISO times: a fraction of 3 or 6 digits only, no 'Z' (the image may have it)."""

    @classmethod
    def fromisoformat(cls, text):
        if not re.fullmatch(r'[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3}|\.[0-9]{6})?'
                            r'([+-][0-9]{2}:[0-9]{2})?', text):
            raise ValueError(f'Invalid isoformat string: {text!r}')
        return super().fromisoformat(text)
