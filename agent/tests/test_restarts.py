"""Restarts: bans restored from fail2ban's database, the state file, the mirror sync."""

import os
import time

from agent import config as agent_config
from agent.tests.agent_case import AgentTestCase
from agent.tests.standins import FakeFail2ban, record, wait_for


class RestartsTest(AgentTestCase):
    def test_a_restored_ban_is_not_published_but_an_unban_of_it_is(self):
        start = int(time.time()) - 100
        self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=start))
        self.start()
        self.event('ban', '192.0.2.10', start=start, restored=1)  # fail2ban restarted: a restart writes nothing
        self.event('ban', '192.0.2.11', restored=1)  # not in the ledger and never published: not now either
        self.outbox_empty()  # an event's file goes once the event is sent (or refused): nothing is still to come
        self.log_with('restored sshd 192.0.2.11 not published now: missing from the ledger; '
                      'left to the republish round')
        self.assertEqual(self.writes(), [])
        self.event('unban', '192.0.2.10', start=start, restored=1)  # the owner's unban of a restored ban
        self.log_with('withdrew sshd 192.0.2.10')
        self.assertEqual([r['method'] for r in self.writes()], ['DELETE'])
        self.assertEqual(self.api.objects, {})

    def test_a_restored_ban_whose_record_was_deleted_meanwhile_is_unbanned(self):
        # The administrator deletes the record while fail2ban restarts: the unban finds nothing yet, then fail2ban
        # restores the ban from its database.
        start = int(time.time()) - 100
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=start))
        self.start()
        self.first_round()
        wait_for(lambda: 'sshd.v4-192-0-2-10.node-a' in self.state_records(), what='the state entry')
        self.api.admin_delete('sshd.v4-192-0-2-10.node-a')
        self.log_with('unbanned sshd 192.0.2.10 in sshd: record of node-a deleted before its end (cluster-wide unban), '
                      'was not banned here')
        self.assertIsNotNone(wait_for(lambda: self.state_records()['sshd.v4-192-0-2-10.node-a'].get('deleted'),
                                      what='the entry marked deleted'))
        with self.f2b.lock:
            self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        self.event('ban', '192.0.2.10', start=start, restored=1)
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban of the restored ban')
        self.log_with("unbanned sshd 192.0.2.10 in sshd: restored ban, but this node's record of it was deleted by "
                      "someone else (cluster-wide unban)")
        wait_for(lambda: not self.state_records(), what='the entry forgotten')
        self.assertEqual(self.writes(), [])

    def test_a_deletion_while_the_sidecar_was_down_is_not_undone(self):
        start = int(time.time()) - 100
        self.f2b.bans['sshd'].update({'192.0.2.10': (start, 3600), '192.0.2.11': (start, 3600)})
        self.start()
        # The first round runs right after the LIST: local bans missing from the ledger, never published.
        self.log_with('republishing sshd 192.0.2.10: missing from the ledger')
        wait_for(lambda: len(self.state_records()) == 2, what='both records in the state')
        self.stop_sidecar()
        self.api.admin_delete('sshd.v4-192-0-2-10.node-a')  # kubectl delete ban, while this agent is down
        posts = len(self.api.calls('POST'))
        self.start()
        wait_for(lambda: '192.0.2.10' not in self.f2b.banned('sshd'), what='the unban in the origin jail')
        self.log_with("unbanned sshd 192.0.2.10 in sshd: this node's record of it was deleted by someone else "
                      "(cluster-wide unban)")
        # The round unbans after everything it would publish: a wrong republish would be in already.
        wait_for(lambda: list(self.state_records()) == ['sshd.v4-192-0-2-11.node-a'], what='the entry forgotten')
        self.assertEqual(len(self.api.calls('POST')), posts)
        self.assertEqual(sorted(self.api.objects), ['sshd.v4-192-0-2-11.node-a'])
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.11'})

    def test_a_deletion_seen_before_fail2ban_restored_the_ban_is_followed_by_the_next_round(self):
        start = int(time.time()) - 100
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=start))
        self.start(republish_seconds=0.2)
        self.first_round()
        wait_for(lambda: 'sshd.v4-192-0-2-10.node-a' in self.state_records(), what='the state entry')
        self.api.admin_delete('sshd.v4-192-0-2-10.node-a')
        self.log_with('was not banned here')
        with self.f2b.lock:  # restored without an event (an older action with norestored)
            self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban in the next round')
        self.republish_rounds()
        self.assertEqual(self.writes(), [])

    def test_the_state_holds_this_nodes_records_seen_in_the_ledger(self):
        self.api.inject(record('192.0.2.20', node='node-b'))
        self.start()
        start = self.event('ban', '192.0.2.10')
        start6 = self.event('ban', '2001:db8::10', bantime=-1)
        wait_for(lambda: len(self.state_records()) == 2, what='two entries')
        self.assertEqual(self.state_records(), {'sshd.v4-192-0-2-10.node-a': {'bannedAt': start, 'end': start + 3600},
                                                'sshd.v6-2001-db8--10.node-a': {'bannedAt': start6, 'end': None}})
        self.event('unban', '192.0.2.10')
        wait_for(lambda: list(self.state_records()) == ['sshd.v6-2001-db8--10.node-a'], what='the withdrawn one gone')

    def test_without_a_state_file_in_memory_only(self):
        self.start(state_file=None)
        self.event('ban', '192.0.2.10')
        wait_for(lambda: self.agent.state.get('sshd.v4-192-0-2-10.node-a'), what='the entry in memory')
        self.assertFalse(os.path.exists(self.state_file))

    def test_mirrors_are_synced_again_after_the_start(self):
        # fail2ban restores a mirror's bans from its database a moment after its jails answer, i.e. after the sync
        # that follows the LIST: the sync runs every few seconds, not once
        self.assertLessEqual(agent_config.Config(node='n').mirror_sync_seconds, 3)
        self.api.inject(record('192.0.2.10'))
        self.start(mirror_sync_seconds=0.2)
        wait_for(lambda: self.f2b.banned('sshd-cluster') == {'192.0.2.10'}, what='the mirror ban')
        with self.f2b.lock:
            self.f2b.bans['sshd-cluster']['192.0.2.99'] = (int(time.time()), 86400)  # its record deleted meanwhile
            del self.f2b.bans['sshd-cluster']['192.0.2.10']
        wait_for(lambda: self.f2b.banned('sshd-cluster') == {'192.0.2.10'}, what='the mirror synced again')
        self.log_with('unbanned 192.0.2.99 in sshd-cluster: no valid record for it')
        self.log_with('re-applied sshd 192.0.2.10 from node-b in sshd-cluster: fail2ban had lost it')

    def test_a_stray_mirror_ban_is_unbanned_only_when_a_later_listing_still_shows_it(self):
        # Restored from the database a moment ago: fail2ban may still be running its nftables action, and an unban
        # before that action ends would leave the element in the firewall.
        self.start(mirror_sync_seconds=0.2, settle_seconds=0.6)
        with self.f2b.lock:
            self.f2b.bans['sshd-cluster']['192.0.2.99'] = (int(time.time()), 86400)
        seen = time.monotonic()
        wait_for(lambda: '192.0.2.99' not in self.f2b.banned('sshd-cluster'), what='the unban')
        self.assertGreaterEqual(time.monotonic() - seen, 0.6)
        self.log_with('unbanned 192.0.2.99 in sshd-cluster: no valid record for it')

    def test_a_deleted_local_ban_is_unbanned_when_a_later_listing_still_shows_it(self):
        start = int(time.time()) - 100
        self.f2b.bans['sshd']['192.0.2.10'] = (start, 3600)
        self.start()
        wait_for(lambda: 'sshd.v4-192-0-2-10.node-a' in self.state_records(), what='the state entry')
        self.stop_sidecar()
        self.api.admin_delete('sshd.v4-192-0-2-10.node-a')  # while this agent is down
        started = time.monotonic()
        self.start(settle_seconds=0.6)  # republish_seconds: 30
        self.first_round()
        self.assertEqual(self.f2b.banned('sshd'), {'192.0.2.10'})  # the first round's listing: not yet
        wait_for(lambda: not self.f2b.banned('sshd'), what='the unban at a later round')
        self.assertGreaterEqual(time.monotonic() - started, 0.6)
        self.assertLess(time.monotonic() - started, 15)  # a round SETTLE_SECONDS later, not REPUBLISH_SECONDS (30)

    def test_keeps_going_while_fail2ban_is_down(self):
        self.f2b.close()
        os.unlink(self.f2b.path)
        self.start()
        self.api.inject(record('192.0.2.10'))
        self.log_with('error: cannot connect to')
        self.f2b = FakeFail2ban(self.f2b.path, ['sshd', 'sshd-cluster'])
        wait_for(lambda: '192.0.2.10' in self.f2b.banned('sshd-cluster'), what='the ban once fail2ban is back')
