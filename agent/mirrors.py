"""The agent's main thread: the watcher's queue -> the ledger; other nodes' valid records applied to the mirror
jails, unbanned at their end or deletion; the mirrors kept equal to the ledger."""

import collections
import time

from .decisions import deletion_actions, plan
from .f2b_socket import F2bError
from .formats import banip_entries, canonical_entry
from .log import log
from .records import effective_end, format_end, parse_record, spec_of, validate_record


def being_deleted(obj):
    """A record with a deletionTimestamp is gone for the ledger, whatever finalizer holds it back."""
    return bool(obj['metadata'].get('deletionTimestamp'))


class MirrorSync:
    # ------------------------------------------------------------------ main thread: ledger -> mirror jails
    def handle(self, item):
        kind, obj = item[0], item[-1]
        now = self.clock()
        if kind == 'list':
            new = {o['metadata'].get('name'): o for o in obj
                   if isinstance(o, dict) and isinstance(o.get('metadata'), dict) and not being_deleted(o)}
            gone = [old for name, old in self.ledger.items() if name not in new]  # deleted while not watching
            with self.lock:
                self.ledger, first = new, not self.synced
                self.synced = True
                for record in new.values():
                    self.note_record(record)
                # Remembered records that are gone, and that this agent never saw go: deleted while it was down
                # (the ones it did see are handled by on_deleted below).
                seen = {old['metadata'].get('name') for old in gone}
                for name in list(self.state.records):
                    if name not in new and name not in seen:
                        self.state.mark_deleted(name, now)
                self.state.save()
            for old in gone:
                self.on_deleted(old, now)
            if first:
                log(f'listed {len(new)} records')
            self.sync_mirrors()  # before reconcile: bans already in the mirrors are kept, not re-applied
            return
        etype, name = item[1], obj['metadata'].get('name')
        if etype == 'MODIFIED' and being_deleted(obj):
            etype = 'DELETED'
        if etype == 'ADDED' and being_deleted(obj):
            return
        if etype in ('ADDED', 'MODIFIED'):
            with self.lock:
                self.ledger[name] = obj
                self.note_record(obj)
                self.state.save()
        elif etype == 'DELETED':
            with self.lock:
                self.ledger.pop(name, None)
            self.on_deleted(obj, now)

    def note_record(self, obj):
        """A record in the ledger: remembered in the state if it is this node's (the lock is held)."""
        name = obj['metadata'].get('name')
        try:
            ban = parse_record(obj)
        except ValueError:
            ban = None
        if ban is not None and ban.node == self.cfg.node:
            self.state.remember(ban)
        else:
            self.state.forget(name)  # no longer (or never) this node's

    def on_deleted(self, obj, now):
        uid = obj['metadata'].get('uid')
        with self.lock:
            by_me = uid in self.my_deletes
            self.my_deletes.discard(uid)
        name = obj['metadata'].get('name')
        self.refused.pop(name, None)
        self.deferred.discard(name)
        actions = deletion_actions(obj, by_me, self.cfg.node, self.cfg.shared, now)
        if not actions:  # this node's own deletion, or a clean-up after the end: nothing left to follow
            with self.lock:
                self.state.forget(name)
                self.state.save()
        for _, jail, ip, node in actions:
            with self.lock:
                self.tombstones[name] = now
            self.unban_origin(name, jail, ip, f'record of {node} deleted before its end', now)

    def unban_origin(self, name, jail, ip, why, now):
        """A cluster-wide unban of `ip` in this node's origin jail. The state entry goes once fail2ban unbanned it;
        if it was not banned (fail2ban may still be restoring its database) or fail2ban is down, the entry stays,
        marked deleted, so that the ban is recognized when it comes back."""
        try:
            changed = self.f2b.command('set', jail, 'unbanip', ip)
            log(f'unbanned {jail} {ip} in {jail}: {why} (cluster-wide unban)'
                + ('' if changed else ', was not banned here'))
        except F2bError as error:
            log(f'error: unban {jail} {ip}: {error}')
            changed = False
        with self.lock:
            if changed:
                self.state.forget(name)
            else:
                self.state.mark_deleted(name, now)
            self.state.save()

    def reconcile(self):
        now = self.clock()
        with self.lock:
            ledger = dict(self.ledger)
        for action in plan(ledger, self.applied, self.refused, self.cfg.node, self.cfg.shared, self.cfg.never_ban,
                           self.limiter, now, self.checks, self.cfg.max_records_per_node, self.unban_index):
            kind, name = action[0], action[1]
            if kind == 'refuse':
                self.refused[name] = action[2]
                node = spec_of(ledger[name]).get('node')
                log(f'refused {name} from {node}: {action[3]}')
                self.count_refusal(action[3])
            elif kind == 'defer':
                if name not in self.deferred:
                    self.deferred.add(name)
                    log(f'refused {name} from {action[2].node} for now: {action[3]}')
                    self.count_refusal(action[3])
            elif kind == 'retime':
                self.applied[name] = action[2:]
            elif kind == 'apply':
                self.apply(name, *action[2:])
            elif kind == 'unban':
                self.unban(name, action[2])

    def _f2b(self, *args):
        try:
            result = self.f2b.command(*args)
            self.f2b_error = None
            return True, result
        except F2bError as error:
            if str(error) != self.f2b_error:  # one line per new error, not one per tick
                self.f2b_error = str(error)
                log(f'error: {error}')
            return False, None

    def apply(self, name, ban, mirror, end):
        ok, _ = self._f2b('set', mirror, 'banip', ban.ip)
        if not ok:
            self.limiter.refund(ban.node)
            return
        self.applied[name] = (ban, mirror, end)
        self.deferred.discard(name)
        log(f'applied {ban.jail} {ban.ip} from {ban.node} until {format_end(end)}')
        self.metrics.inc('f2b_agent_sharing_applied_total', jail=ban.jail)

    def unban(self, name, reason):
        """One record less for an address in a mirror: unbanned there once no other node's record holds it.
        Returns (done, fail2ban's answer: whether it held the ban); not done if fail2ban did not answer."""
        ban, mirror, _ = self.applied[name]
        held_elsewhere = any(other != name and held.ip == ban.ip and held_in == mirror
                             for other, (held, held_in, _) in self.applied.items())
        if held_elsewhere:
            del self.applied[name]
            log(f'{ban.jail} {ban.ip} from {ban.node}: {reason}; another node\'s record still holds it')
            return True, 0
        ok, result = self._f2b('set', mirror, 'unbanip', ban.ip)
        if ok:
            del self.applied[name]
            log(f'unbanned {ban.jail} {ban.ip} from {ban.node}: {reason}')
        return ok, result

    def sync_mirrors(self):
        """Make the mirror jails hold exactly the valid records: fail2ban may have restarted (lost or restored
        bans), this agent may have restarted (adopt what is there, unban what was deleted meanwhile). Runs every
        mirror_sync_seconds, because fail2ban restores a mirror's database bans only a moment after its jails
        answer: a ban whose record was deleted while the node was down comes back after the sync at the LIST.
        Cheap enough for that: one `get J-cluster banip` per mirror, and only addresses that are not applied are
        looked up in the ledger (by name) and validated."""
        now, listed_at = self.clock(), time.monotonic()
        self.next_sync = listed_at + self.cfg.mirror_sync_seconds
        with self.lock:
            ledger = dict(self.ledger)
        by_address = collections.defaultdict(list)  # (jail, canonical ip) -> the names of other nodes' records of it
        for name, obj in ledger.items():
            spec = spec_of(obj)
            if spec.get('node') != self.cfg.node and isinstance(spec.get('jail'), str) and isinstance(spec.get('ip'), str):
                by_address[(spec['jail'], spec['ip'])].append(name)
        stray = set()
        for jail, shared in self.cfg.shared.items():
            ok, banned = self._f2b('get', shared.mirror, 'banip')
            if not ok:
                continue
            banned = set(banip_entries(banned))
            held = {ban.ip for ban, mirror, _ in self.applied.values() if mirror == shared.mirror}
            for ip in sorted(banned - held):
                # fail2ban lists addresses as it was given them; records hold the canonical form
                canonical = str(canonical_entry(ip) or ip)
                adopted = self.mirror_record(by_address.get((jail, canonical), []), ledger, now)
                if adopted:
                    name, ban, end = adopted
                    self.applied[name] = (ban, shared.mirror, end)
                else:
                    stray.add((shared.mirror, ip))
            lost = [(name, ban) for name, (ban, mirror, _) in self.applied.items()
                    if mirror == shared.mirror and ban.ip not in banned]
            for name, ban in sorted(lost):
                if self._f2b('set', shared.mirror, 'banip', ban.ip)[0]:
                    log(f're-applied {ban.jail} {ban.ip} from {ban.node} in {shared.mirror}: fail2ban had lost it')
        for mirror, ip in sorted(self.stray_mirror_bans.settled(stray, listed_at)):
            if self._f2b('set', mirror, 'unbanip', ip)[0]:
                log(f'unbanned {ip} in {mirror}: no valid record for it')

    def mirror_record(self, names, ledger, now):
        """(name, Ban, end) of the valid, unended record among `names` (other nodes' records of one address) that
        lasts longest, or None."""
        found = []
        for name in names:
            if name in self.refused:
                continue
            ban, reason = validate_record(ledger[name], self.cfg.shared, self.cfg.never_ban, now, self.checks,
                                          self.unban_index)
            if reason is not None:
                continue
            end = effective_end(ban, self.cfg.shared[ban.jail].max_ban_time)
            if end is None or end > now:
                found.append((name, ban, end))
        return max(found, key=lambda kept: float('inf') if kept[2] is None else kept[2], default=None)
