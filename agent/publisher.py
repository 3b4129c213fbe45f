"""The agent's publisher thread: outbox events -> Ban records, in order, with retries; the republish round."""

import http.client
import ipaddress
import os
import time

from .decisions import local_ban_decision, merge_decision
from .f2b_socket import F2bError
from .formats import outbox_order, parse_banlist, parse_outbox_event
from .kube import ApiError
from .log import log
from .records import address_refusal, format_end, format_time, new_record, parse_record, record_name, spec_end, spec_of
from .state import DELETED_RETENTION

# a local ban this young is left to the outbox by the republish round: the publish action writes its event right
# after the firewall action, and a round between the two would POST the ban twice
FRESH_BAN_SECONDS = 10


class Publisher:
    # ------------------------------------------------------------------ publisher thread: outbox -> API
    def publisher_loop(self):
        # The first round as soon as the first LIST is in: what was deleted while this agent was down must be
        # unbanned here now, not REPUBLISH_SECONDS later.
        next_republish = 0.0
        while not self.stop_event.is_set():
            try:
                self.process_outbox()
                if time.monotonic() >= next_republish and self.synced:
                    self.republish()
                    self.delete_ended()
                    # An unban that waits for its second sighting (SETTLE_SECONDS) is not left for a whole round.
                    wait = self.cfg.settle_seconds if self.deleted_local_bans.pending() else self.cfg.republish_seconds
                    next_republish = time.monotonic() + wait
            except Exception as error:  # never let the publisher die
                log(f'error: publisher: {error!r}')
            self.stop_event.wait(self.cfg.outbox_poll)

    def process_outbox(self):
        for filename in sorted((f for f in os.listdir(self.cfg.outbox) if f.endswith('.event')), key=outbox_order):
            if self.stop_event.is_set():
                return
            path = os.path.join(self.cfg.outbox, filename)
            try:
                with open(path) as f:
                    event = parse_outbox_event(f.read())
            except FileNotFoundError:
                continue
            except ValueError as error:
                log(f'dropped outbox file {filename}: {error}')
                os.remove(path)
                continue
            if self.with_retries(lambda: self.publish(event), f'{event["op"]} {event["jail"]} {event["ip"]}'):
                os.remove(path)

    def with_retries(self, step, what):
        """Runs `step` until it returns; transient errors are retried with backoff, others logged and dropped.
        False only when stopped first."""
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                step()
                return True
            except ApiError as error:
                if not error.transient:
                    log(f'error: {what}: refused by the API: {error}')
                    return True
                problem = error
            except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as error:
                problem = error  # network, or an answer that is not what the API sends
            log(f'error: {what}: {problem}; retrying in {delay:g} s')
            self.stop_event.wait(delay)
            delay = min(delay * 2, self.cfg.backoff_max)
        return False

    def publish(self, event, quiet=False):
        jail, ip = event['jail'], event['ip']
        try:
            if jail not in self.cfg.shared:
                raise ValueError(f'jail {jail} is not shared')
            name = record_name(jail, ip, self.cfg.node)
            reason = address_refusal(ipaddress.ip_address(ip), self.cfg.never_ban)
            if reason:
                raise ValueError(reason)
        except ValueError as error:
            if not quiet or (jail, ip) not in self.unpublishable:
                log(f'not published: {event["op"]} {jail} {ip}: {error}')
            self.unpublishable.add((jail, ip))
            return
        if event['op'] == 'ban' and event.get('restored'):
            self.restored_ban(name, event)
        elif event['op'] == 'ban':
            self.publish_ban(name, {'ip': ip, 'jail': jail, 'node': self.cfg.node,
                                    'bannedAt': format_time(event['time']), 'banTime': event['bantime']})
        else:
            self.publish_unban(name, jail, ip)

    def publish_ban(self, name, spec):
        end = format_end(spec_end(spec))
        for _ in range(5):
            status, body = self.api.request('POST', self.collection,
                                            new_record(self.cfg.group, self.cfg.namespace, name, spec))
            if status in (200, 201):
                log(f'published {spec["jail"]} {spec["ip"]} until {end}')
                self.metrics.inc('f2b_agent_sharing_published_total', jail=spec['jail'])
                return
            if status != 409:
                raise ApiError(status, body)
            status, existing = self.api.request('GET', f'{self.collection}/{name}')
            if status == 404:
                continue  # deleted in between: create again
            if status != 200:
                raise ApiError(status, existing)
            decision, why = merge_decision(existing, spec, self.cfg.node)
            if decision == 'keep':
                log(f'kept {name}: {why}')
                return
            status, body = self.api.request('PUT', f'{self.collection}/{name}', dict(existing, spec=spec))
            if status == 200:
                log(f'extended {name}: {why}')
                return
            if status not in (404, 409):
                raise ApiError(status, body)
        raise ApiError(409, {'message': f'{name} keeps changing'})

    def restored_ban(self, name, event):
        """fail2ban restored a ban from its database (it restarted): it was published before, so nothing is
        written (a restart makes no writes). But its record may have been deleted meanwhile by someone else: then
        the ban follows that cluster-wide unban now. A ban the ledger lacks for another reason is left to the
        republish round. Before the first LIST the ledger is unknown: the first round, right after it, decides."""
        with self.lock:
            if not self.synced:
                return
            ledger, published, tombstones = dict(self.ledger), self.state.snapshot(), dict(self.tombstones)
        bantime = event['bantime']
        end = None if bantime < 0 else event['time'] + bantime
        decision, why = local_ban_decision(name, event['time'], end, ledger, published, tombstones, self.cfg.node,
                                           self.clock())
        if decision == 'unban':
            self.unban_origin(name, event['jail'], event['ip'], f'restored ban, but {why}', self.clock())
        elif decision == 'publish':
            log(f'restored {event["jail"]} {event["ip"]} not published now: {why}; left to the republish round')

    def publish_unban(self, name, jail, ip):
        for _ in range(5):
            status, existing = self.api.request('GET', f'{self.collection}/{name}')
            if status == 404:
                with self.lock:  # deleted already (by someone else: on_deleted followed it)
                    self.state.forget(name)
                    self.state.save()
                return
            if status != 200:
                raise ApiError(status, existing)
            node = spec_of(existing).get('node')
            if node != self.cfg.node:
                log(f'left {name}: it is {node}\'s record')
                return
            if self.delete_own(existing):
                log(f'withdrew {jail} {ip}')
                return
        raise ApiError(409, {'message': f'{name} keeps changing'})

    def delete_own(self, existing):
        """DELETE with preconditions (uid, resourceVersion): True if gone, False if it changed meanwhile."""
        meta = existing['metadata']
        with self.lock:
            self.my_deletes.add(meta.get('uid'))
        options = {'apiVersion': 'v1', 'kind': 'DeleteOptions',
                   'preconditions': {'uid': meta.get('uid'), 'resourceVersion': meta.get('resourceVersion')}}
        status, body = self.api.request('DELETE', f'{self.collection}/{meta["name"]}', options)
        if status in (200, 202, 404):  # 404: someone else was faster
            with self.lock:
                if status == 404:
                    self.my_deletes.discard(meta.get('uid'))
                self.state.forget(meta['name'])  # withdrawn or ended: nothing to recognize any more
                self.state.save()
            return True
        with self.lock:
            self.my_deletes.discard(meta.get('uid'))
        if status == 409:
            return False
        raise ApiError(status, body)

    def republish(self):
        """Local bans of the shared jails against the ledger (local_ban_decision): published if the ledger lacks
        them (or holds them shorter, as this node's record) and they are older than FRESH_BAN_SECONDS, unbanned if
        their record was deleted by someone else and a listing SETTLE_SECONDS earlier showed them too.
        The ledger and the state are taken before fail2ban's ban list, and together: an entry whose record is
        missing then means a deletion, not a record on its way (entries come from the ledger only)."""
        now, listed_at = self.clock(), time.monotonic()
        deleted = {}
        with self.lock:
            for name in [n for n, t in self.tombstones.items() if t < now - DELETED_RETENTION]:
                del self.tombstones[name]
            self.state.prune(now, self.cfg.grace_seconds)
            self.state.save()
            ledger, published, tombstones = dict(self.ledger), self.state.snapshot(), dict(self.tombstones)
        for jail in self.cfg.shared:
            try:
                bans = parse_banlist(self.f2b.command('get', jail, 'banip', '--with-time'))
            except F2bError as error:
                log(f'error: republish: {error}')
                continue
            for ip, start, bantime in bans:
                end = None if bantime < 0 else start + bantime
                if end is not None and end <= now:
                    continue
                try:
                    ip = str(ipaddress.ip_address(ip))
                    name = record_name(jail, ip, self.cfg.node)
                except ValueError:
                    continue
                decision, why = local_ban_decision(name, start, end, ledger, published, tombstones, self.cfg.node,
                                                   now)
                if decision == 'unban':
                    deleted[(jail, ip)] = (name, why)
                elif decision == 'publish' and start <= now - FRESH_BAN_SECONDS:
                    event = {'op': 'ban', 'jail': jail, 'ip': ip, 'time': start, 'bantime': bantime}
                    if (jail, ip) not in self.unpublishable:
                        log(f'republishing {jail} {ip}: {why}')
                    self.with_retries(lambda: self.publish(event, quiet=True), f'republish {jail} {ip}')
        for jail, ip in sorted(self.deleted_local_bans.settled(set(deleted), listed_at)):
            name, why = deleted[(jail, ip)]
            self.unban_origin(name, jail, ip, why, now)

    def delete_ended(self):
        """This node's records whose end is more than the grace period ago."""
        now = self.clock()
        with self.lock:
            ledger = dict(self.ledger)
        for name, obj in sorted(ledger.items()):
            try:
                ban = parse_record(obj)
            except ValueError:
                continue
            if ban.node == self.cfg.node and ban.end is not None and ban.end + self.cfg.grace_seconds <= now:
                try:
                    if self.delete_own(obj):
                        log(f'deleted {name}: ended {format_time(ban.end)}')
                except (ApiError, OSError, http.client.HTTPException) as error:
                    log(f'error: delete {name}: {error}')
