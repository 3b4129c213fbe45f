"""The main thread: other nodes' records applied to the mirror jails, and unbanned."""

import os
import time

from agent.tests.agent_case import AgentTestCase
from agent.tests.standins import COLLECTION, name_of, record, rfc3339, wait_for


class ApplyingTest(AgentTestCase):
    def test_applies_another_nodes_record_and_unbans_at_its_end(self):
        now = int(self.clock())
        self.start()
        self.api.inject(record('192.0.2.10', node='node-b', banned_at=now - 100, ban_time=110))
        self.api.inject(record('192.0.2.11', node='node-a', banned_at=now - 100, ban_time=110))
        self.log_with(f'applied sshd 192.0.2.10 from node-b until {rfc3339(now + 10)}')
        self.assertTrue(self.f2b.ran('set', 'sshd-cluster', 'banip', '192.0.2.10'))
        self.assertEqual(self.f2b.banned('sshd-cluster'), {'192.0.2.10'})
        self.clock.advance(11)
        wait_for(lambda: not self.f2b.banned('sshd-cluster'), what='the unban at the end')
        self.log_with('unbanned sshd 192.0.2.10 from node-b: ended')
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))

    def test_refuses_invalid_records(self):
        now = int(time.time())
        noncanonical = record('2001:db8::10')
        noncanonical['spec']['ip'] = '2001:DB8::10'
        bad = [
            (record('198.51.100.7'), 'inside NEVER_BAN 198.51.100.0/24'),
            (record('127.0.0.1'), 'loopback address'),
            (noncanonical, "ip '2001:DB8::10' is not a canonical single address"),
            (record('192.0.2.10', name='sshd.v4-192-0-2-99.node-b'), 'name does not match the spec'),
            (record('192.0.2.11', banned_at=now + 300), f'bannedAt {rfc3339(now + 300)} is in the future'),
            (record('192.0.2.12', jail='nginx'), 'jail nginx is not shared here'),
        ]
        for obj, _ in bad:
            self.api.inject(obj)
        self.api.inject(record('203.0.113.5'))
        self.start()
        wait_for(lambda: '203.0.113.5' in self.f2b.banned('sshd-cluster'), what='the valid record')
        for obj, reason in bad:
            self.log_with(f'refused {obj["metadata"]["name"]} from node-b: {reason}')
        self.assertEqual(self.f2b.banned('sshd-cluster'), {'203.0.113.5'})

    def test_rate_limit_per_origin_node(self):
        self.start(rate_limit=2)
        for i in (1, 2, 3):
            self.api.inject(record(f'192.0.2.{i}'))
        self.log_with('refused sshd.v4-192-0-2-3.node-b from node-b for now: over the rate limit (2 per minute)')
        self.assertEqual(self.f2b.banned('sshd-cluster'), {'192.0.2.1', '192.0.2.2'})
        self.api.inject(record('203.0.113.9', node='node-c'))  # another origin has its own budget
        wait_for(lambda: '203.0.113.9' in self.f2b.banned('sshd-cluster'), what='node-c record')
        self.clock.advance(61)
        wait_for(lambda: '192.0.2.3' in self.f2b.banned('sshd-cluster'), what='the deferred record')

    def test_deleting_this_nodes_own_record_is_its_cluster_wide_unban_and_another_nodes_is_not(self):
        self.f2b.bans['sshd'].update({'192.0.2.10': (int(time.time()), 3600), '192.0.2.20': (int(time.time()), 3600)})
        self.api.inject(record('192.0.2.10', node='node-b'))
        self.api.inject(record('192.0.2.20', node='node-a'))
        self.start()
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.api.admin_delete('sshd.v4-192-0-2-10.node-b')  # kubectl delete ban: another node's record
        wait_for(lambda: not self.f2b.banned('sshd-cluster'), what='the mirror unban')
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))  # this node's own ban stays
        self.api.admin_delete('sshd.v4-192-0-2-20.node-a')  # this node's own record
        wait_for(lambda: self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.20'), what='the origin unban')
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.10'})
        self.log_with('unbanned sshd 192.0.2.20 in sshd: record of node-a deleted before its end')

    def test_an_address_banned_by_two_nodes_stays_banned_until_neither_record_holds_it(self):
        self.api.inject(record('192.0.2.10', node='node-b'))
        self.api.inject(record('192.0.2.10', node='node-c'))
        self.start()
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.assertEqual(self.api.delete('sshd.v4-192-0-2-10.node-b', token='token-b'), 200)  # node-b withdraws its own
        self.ledger_barrier()
        self.assertIn('192.0.2.10', self.f2b.banned('sshd-cluster'))  # node-c's record still holds it
        self.assertFalse(self.f2b.ran('set', 'sshd-cluster', 'unbanip', '192.0.2.10'))
        self.assertEqual(self.api.delete('sshd.v4-192-0-2-10.node-c', token='token-c'), 200)
        wait_for(lambda: '192.0.2.10' not in self.f2b.banned('sshd-cluster'), what='the unban once no record holds it')

    def test_a_record_being_deleted_is_gone_whatever_finalizer_holds_it(self):
        held = record('192.0.2.30', node='node-b')
        held['metadata']['deletionTimestamp'] = rfc3339(int(time.time()))
        held['metadata']['finalizers'] = ['example.org/hold']
        self.api.inject(held)  # listed while being deleted: never applied
        self.api.inject(record('192.0.2.10', node='node-b'))
        self.start()
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.assertNotIn('192.0.2.30', self.f2b.banned('sshd-cluster'))
        being_deleted = self.api.objects['sshd.v4-192-0-2-10.node-b']
        being_deleted['metadata'].update(deletionTimestamp=rfc3339(int(time.time())), finalizers=['example.org/hold'])
        self.api.inject(being_deleted)  # MODIFIED with a deletionTimestamp: an administrator's delete, held back
        wait_for(lambda: '192.0.2.10' not in self.f2b.banned('sshd-cluster'), what='the unban at the deletion')

    def test_lists_a_page_at_a_time_and_keeps_only_what_it_reads(self):
        for i in range(10, 17):
            big = record(f'192.0.2.{i}', node='node-b')
            big['metadata']['annotations'] = {'example.org/padding': 'x' * 1000}
            self.api.inject(big)
        self.start(list_page=3)
        wait_for(lambda: len(self.f2b.banned('sshd-cluster')) == 7, what='all seven records applied')
        pages = [r['query'] for r in self.lists() + [r for r in self.api.requests if 'continue' in r['query']]]
        self.assertEqual([query.get('limit') for query in pages], ['3', '3', '3'])
        self.assertEqual(sum('continue' in query for query in pages), 2)
        kept = self.agent.ledger['sshd.v4-192-0-2-10.node-b']
        self.assertEqual(set(kept), {'metadata', 'spec'})
        self.assertEqual(set(kept['metadata']), {'name', 'uid', 'resourceVersion'})

    def test_owner_clean_up_after_the_end_is_no_unban(self):
        now = int(time.time())
        self.f2b.bans['sshd']['192.0.2.10'] = (now, 3600)  # banned here too, for longer
        self.start()
        # Ends 10 s from now: time enough to apply it on a busy machine, then the clock moves past its end.
        created = self.api.inject(record('192.0.2.10', node='node-b', banned_at=now - 100, ban_time=110))
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the mirror ban')
        self.clock.advance(11)
        wait_for(lambda: not self.f2b.banned('sshd-cluster'), what='the unban at the end')
        self.assertEqual(self.api.delete(created['metadata']['name'], token='token-b'), 200)  # its owner's clean-up
        self.ledger_barrier()
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.10'})

    def test_relists_after_410(self):
        self.api.inject(record('192.0.2.10'))
        self.api.inject(record('192.0.2.11'))
        self.start()
        wait_for(lambda: len(self.f2b.banned('sshd-cluster')) == 2, what='both mirror bans')
        for expired_as_status, ip in ((False, '192.0.2.10'), (True, '192.0.2.11')):
            with self.subTest(expired_as_status=expired_as_status):
                self.api.expired_as_status = expired_as_status
                lists = len(self.lists())
                self.api.expire([name_of('sshd', ip)])  # a deletion it never sees
                wait_for(lambda ip=ip: ip not in self.f2b.banned('sshd-cluster'), what='the unban after the relist')
                self.log_with('watch expired (410), relisting')
                self.assertGreater(len(self.lists()), lists)

    def test_republishes_local_bans_missing_from_the_ledger(self):
        now = int(time.time())
        self.f2b.bans['sshd'].update({'192.0.2.10': (now - 20, 3600), '2001:db8::10': (now - 20, -1),
                                      '192.0.2.11': (now - 20, 3600), '192.0.2.12': (now - 7200, 3600)})
        self.api.inject(record('192.0.2.11', node='node-a', banned_at=now - 20, ban_time=3600))
        self.start(republish_seconds=0.3)
        self.log_with('republishing sshd 2001:db8::10')
        wait_for(lambda: len(self.api.calls('POST')) == 2, what='two POSTs')
        self.republish_rounds()  # a further round publishes nothing more
        specs = sorted((p['body']['spec']['ip'], p['body']['spec']['bannedAt'], p['body']['spec']['banTime'])
                       for p in self.api.calls('POST'))
        self.assertEqual(specs, [('192.0.2.10', rfc3339(now - 20), 3600), ('2001:db8::10', rfc3339(now - 20), -1)])

    def test_a_fresh_local_ban_is_left_to_its_outbox_event(self):
        # The ban is in fail2ban's list before its publish action has written the event: a republish round in
        # between must not POST it too.
        now = int(time.time())
        self.f2b.bans['sshd'].update({'192.0.2.10': (now - 20, 3600), '192.0.2.11': (now, 3600)})
        self.start(republish_seconds=0.1)
        self.log_with('republishing sshd 192.0.2.10')
        self.republish_rounds()  # rounds after the first one
        self.assertEqual([p['body']['spec']['ip'] for p in self.api.calls('POST')], ['192.0.2.10'])
        self.event('ban', '192.0.2.11', start=now)
        self.log_with('published sshd 192.0.2.11')
        self.republish_rounds()
        self.assertEqual(sorted(p['body']['spec']['ip'] for p in self.api.calls('POST')), ['192.0.2.10', '192.0.2.11'])

    def test_deletes_own_records_a_grace_period_after_their_end(self):
        now = int(time.time())
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=now - 200, ban_time=100))  # ended 100 s ago
        self.api.inject(record('192.0.2.11', node='node-a', banned_at=now - 200, ban_time=170))  # ended 30 s ago
        self.api.inject(record('192.0.2.12', node='node-b', banned_at=now - 200, ban_time=100))  # not its own
        self.start(republish_seconds=0.2)
        self.log_with('deleted sshd.v4-192-0-2-10.node-a: ended')
        self.republish_rounds()
        self.assertEqual(sorted(self.api.objects), ['sshd.v4-192-0-2-11.node-a', 'sshd.v4-192-0-2-12.node-b'])
        self.assertEqual([r['path'] for r in self.api.calls('DELETE')], [f'{COLLECTION}/sshd.v4-192-0-2-10.node-a'])
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '192.0.2.10'))

    def test_mirrors_are_synced_with_the_ledger_at_start(self):
        now = int(time.time())
        self.f2b.bans['sshd-cluster'].update({'192.0.2.10': (now, 86400), '192.0.2.99': (now, 86400)})
        self.api.inject(record('192.0.2.10'))
        self.api.inject(record('192.0.2.11'))
        self.start(rate_limit=1)
        wait_for(lambda: self.f2b.banned('sshd-cluster') == {'192.0.2.10', '192.0.2.11'}, what='the synced mirror')
        self.assertTrue(self.f2b.ran('set', 'sshd-cluster', 'unbanip', '192.0.2.99'))
        self.assertFalse(self.f2b.ran('set', 'sshd-cluster', 'banip', '192.0.2.10'))  # kept, not re-applied

    def test_status_file_is_touched_by_list_and_watch(self):
        self.start()
        first = wait_for(lambda: os.path.exists(self.status_file) and os.stat(self.status_file).st_mtime_ns)
        wait_for(lambda: os.stat(self.status_file).st_mtime_ns > first, what='a newer status file (bookmark)')
