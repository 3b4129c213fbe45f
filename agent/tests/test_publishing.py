"""The publisher: outbox events to Ban records."""

import os
import time

from agent.tests.agent_case import AgentTestCase
from agent.tests.standins import COLLECTION, GROUP, NAMESPACE, record, rfc3339


class PublishingTest(AgentTestCase):
    def test_publishes_a_ban_event(self):
        self.start()
        start = self.event('ban', '192.0.2.10', bantime=86400)
        self.outbox_empty()
        posts = self.api.calls('POST')
        self.assertEqual(len(posts), 1)
        self.assertEqual(posts[0]['token'], 'token-a')
        self.assertEqual(posts[0]['body'], {
            'apiVersion': f'{GROUP}/v1', 'kind': 'Ban',
            'metadata': {'name': 'sshd.v4-192-0-2-10.node-a', 'namespace': NAMESPACE},
            'spec': {'ip': '192.0.2.10', 'jail': 'sshd', 'node': 'node-a', 'bannedAt': rfc3339(start),
                     'banTime': 86400}})
        self.assertIn(f'published sshd 192.0.2.10 until {rfc3339(start + 86400)}', self.logs)
        self.assertIn('sshd.v4-192-0-2-10.node-a', self.api.objects)
        self.assertEqual(self.f2b.banned('sshd-cluster'), set())  # never applies its own records

    def test_events_in_order_and_unban_deletes_own_record(self):
        self.start()
        self.event('ban', '2001:db8::10')
        self.event('unban', '2001:db8::10')
        self.log_with('withdrew sshd 2001:db8::10')
        self.assertEqual([r['method'] for r in self.api.requests if 'watch' not in r['query']], ['GET', 'POST', 'GET', 'DELETE'])
        delete = self.api.calls('DELETE')[0]
        self.assertEqual(delete['path'], f'{COLLECTION}/sshd.v6-2001-db8--10.node-a')
        self.assertEqual(set(delete['body']['preconditions']), {'uid', 'resourceVersion'})
        self.assertEqual(self.api.objects, {})
        self.assertFalse(self.f2b.ran('set', 'sshd', 'unbanip', '2001:db8::10'))  # its own deletion: no unban

    def test_unban_leaves_another_nodes_record(self):
        self.api.inject(record('192.0.2.10', node='node-b'))
        self.start()
        self.event('unban', '192.0.2.10')
        self.outbox_empty()
        self.assertEqual(self.api.calls('DELETE'), [])
        self.assertIn('sshd.v4-192-0-2-10.node-b', self.api.objects)

    def test_conflict_extends_only_if_later(self):
        now = int(time.time())
        self.api.inject(record('192.0.2.10', node='node-a', banned_at=now - 100, ban_time=600))
        self.start()
        self.event('ban', '192.0.2.10', start=now - 10, bantime=600)  # ends 90 s later: PUT
        self.log_with('extended sshd.v4-192-0-2-10.node-a')
        self.event('ban', '192.0.2.10', start=now - 50, bantime=600)  # earlier than the record now: kept
        self.log_with('kept sshd.v4-192-0-2-10.node-a: it already lasts until')
        self.assertEqual([r['method'] for r in self.api.requests if 'watch' not in r['query']],
                         ['GET', 'POST', 'GET', 'PUT', 'POST', 'GET'])
        self.assertEqual(self.api.objects['sshd.v4-192-0-2-10.node-a']['spec']['bannedAt'], rfc3339(now - 10))

    def test_another_nodes_record_neither_blocks_nor_shortens_this_nodes_ban(self):
        # A record of another node that ended long ago, or lasts ten years: this node publishes its own either way.
        self.api.inject(record('192.0.2.10', node='node-b', banned_at=int(time.time()) - 2 * 86400, ban_time=10 * 365 * 86400))
        self.start()
        self.event('ban', '192.0.2.10', bantime=86400)
        self.log_with('published sshd 192.0.2.10 until')
        self.assertEqual(self.api.calls('PUT'), [])
        self.assertEqual(self.api.objects['sshd.v4-192-0-2-10.node-a']['spec']['banTime'], 86400)
        self.assertIn('sshd.v4-192-0-2-10.node-b', self.api.objects)

    def test_unpublishable_events(self):
        self.start()
        self.event('ban', '198.51.100.7')
        self.event('ban', '192.0.2.10', jail='nginx')
        with open(os.path.join(self.outbox, '1-1.event'), 'w') as f:
            f.write('not json')
        self.outbox_empty()
        self.log_with('not published: ban sshd 198.51.100.7: inside NEVER_BAN')
        self.log_with('not published: ban nginx 192.0.2.10: jail nginx is not shared')
        self.log_with('dropped outbox file 1-1.event')
        self.assertEqual(self.api.calls('POST'), [])

    def test_token_is_reread_and_401_retried(self):
        self.start()
        self.write_token('token-a2')
        self.event('ban', '192.0.2.10')
        self.outbox_empty()
        self.assertEqual(self.api.calls('POST')[-1]['token'], 'token-a2')
        self.write_token('expired')
        self.event('ban', '192.0.2.11')
        self.log_with('error: ban sshd 192.0.2.11: HTTP 401')
        self.write_token('token-a')
        self.outbox_empty()
        self.assertEqual([r['token'] for r in self.api.calls('POST')][-1], 'token-a')
        self.assertIn('sshd.v4-192-0-2-11.node-a', self.api.objects)

    def test_forbidden_write_is_dropped(self):
        self.write_token('token-b')  # another node's token: the admission policy refuses spec.node = node-a
        self.start()
        self.event('ban', '192.0.2.10')
        self.outbox_empty()
        self.log_with('error: ban sshd 192.0.2.10: refused by the API: HTTP 403')
        self.assertEqual(self.api.objects, {})
