"""Operator bans (docs/operator-bans.md): OperatorBan orders applied to this node's jails. The decisions are the plain
functions at the top; OperatorBans (a part of the agent) runs them on the main thread, with the order watcher's
thread to feed it."""

import collections
import contextlib
import json
import os
import re
import time
from datetime import datetime

from .decisions import Sightings
from .formats import ORDER_METADATA, banip_entries, canonical_entry, parse_banlist
from .log import log
from .records import address_name, address_refusal, canonical_ip, format_time, spec_of, unban_order_refusal
from .watcher import ListWatch

# The times an order may carry: RFC 3339 with any number of fraction digits, 'Z' or an offset, ASCII digits only; the
# CRD pins its `date-time` fields to the same pattern, which means the same in Python, Go's RE2 and ECMAScript.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'operator_ban.json'), encoding='utf-8') as contract:
    RFC3339_PATTERN = json.load(contract)['time']['pattern']  # the CRD's pattern for orderedAt and expires
RFC3339_RE = re.compile(RFC3339_PATTERN)
# An order this node applied, as its report keeps it: results that need no new fail2ban command after a restart.
APPLIED = ('changed', 'unchanged')


class Order(collections.namedtuple('Order', 'name jail ip action ordered_at expires generation')):
    """An OperatorBan that this node may apply; times in epoch seconds, `expires` None: permanent (or an unban)."""


def parse_rfc3339(text, what):
    """An RFC 3339 time (RFC3339_PATTERN: fractions and offsets allowed) -> epoch seconds; ValueError."""
    match = RFC3339_RE.fullmatch(text) if isinstance(text, str) else None  # fullmatch: '$' also matches before '\n'
    if match:
        # The image's Python may be older than 3.11, whose fromisoformat takes no 'Z' and a fraction of 3 or 6 digits
        # only: it gets exactly 6 (padded, or cut to microseconds) and an offset.
        fraction, offset = (match.group(1) or '.')[1:], match.group(2)
        try:
            return datetime.fromisoformat(f'{text[:19]}.{fraction[:6].ljust(6, "0")}'
                                          f'{"+00:00" if offset == "Z" else offset}').timestamp()
        except ValueError:
            pass  # the form, but no time: month 13, hour 24, offset +25:00
    raise ValueError(f'{what} {text!r} is not an RFC 3339 time')


def check_order(obj, operator_jails, never_ban):
    """(Order, None) for an order this node may apply, else (None, why not): the CRD's rules again (it may be older
    than this node's configuration, or an object may have been written around it) and the jails of this node."""
    meta, spec = obj.get('metadata') if isinstance(obj, dict) else None, spec_of(obj)
    if not isinstance(meta, dict) or not spec:
        return None, 'malformed order'
    jail, ip, action = spec.get('jail'), spec.get('ip'), spec.get('action')
    if jail not in operator_jails:
        return None, f'unknown jail {jail!r}: no operator jail for it on this node'
    address = canonical_ip(ip)
    if address is None:
        return None, f'ip {ip!r} is not a canonical single address'
    if action not in ('ban', 'unban'):
        return None, f'action {action!r} is neither ban nor unban'
    expected = address_name(jail, ip)
    if meta.get('name') != expected:
        return None, f'name does not match the spec (expected {expected})'
    try:
        ordered_at = parse_rfc3339(spec.get('orderedAt'), 'orderedAt')
        expires = None if spec.get('expires') is None else parse_rfc3339(spec['expires'], 'expires')
    except ValueError as error:
        return None, str(error)
    if expires is not None and action != 'ban':
        return None, 'expires is for bans only'
    if action == 'ban':
        refusal = address_refusal(address, never_ban)
        if refusal:
            return None, f'{ip} may never be banned: {refusal}'
    generation = meta.get('generation')
    return Order(expected, jail, ip, action, ordered_at, expires, generation), None


def order_commands(order, operator_jails, now):
    """The fail2ban commands for the operator jail that carry out a valid order now: a ban (an unban once it has
    expired); for an unban order, an unban (no ban order holds the address: it would be the same object). The jail
    itself and the mirror are not unbanned blindly: see lifted_bans and OperatorBans.apply_order."""
    operator_jail = operator_jails[order.jail]
    if order.action == 'ban':
        verb = 'unbanip' if order.expires is not None and order.expires <= now else 'banip'
        return [('set', operator_jail, verb, order.ip)]
    return [('set', operator_jail, 'unbanip', order.ip)]


def lifted_bans(listing, unbans):
    """The canonical addresses of a jail's bans that unban orders lift: those that started at or before the order
    (a later ban is the attacker back, not what the operator lifted). `listing`: [(ip, start, bantime)] as
    formats.parse_banlist reads `get J banip --with-time`; `unbans`: canonical ip -> orderedAt of J's unban orders."""
    lifted = set()
    for ip, start, _ in listing:
        address = canonical_entry(ip)
        if address is not None and str(address) in unbans and start <= unbans[str(address)]:
            lifted.add(str(address))
    return sorted(lifted)


def canonical_listing(listed):
    """`get J banip` (addresses as fail2ban was given them) -> the set of their canonical forms."""
    return {str(address) for address in map(canonical_entry, banip_entries(listed)) if address is not None}


def same_order(entry, uid, generation):
    """Whether a report's entry is of this object (uid) at this generation: an order deleted and created again has
    another uid, though it may have the same name and generation."""
    return isinstance(uid, str) and entry.get('uid') == uid and entry.get('generation') == generation


def applied_generations(report):
    """name -> the entry of every order a Fail2banNode object (or None) shows as applied."""
    status = report.get('status') if isinstance(report, dict) else None
    orders = status.get('orders') if isinstance(status, dict) else None
    if not isinstance(orders, dict):
        return {}
    return {name: entry for name, entry in orders.items()
            if isinstance(entry, dict) and entry.get('result') in APPLIED and isinstance(entry.get('generation'), int)}


def operator_jail_plan(wanted, listed):
    """An operator jail against the orders: (addresses to ban again, addresses no order holds). `wanted`: the
    canonical addresses of its valid, unexpired ban orders; `listed`: what fail2ban lists, as it spells them."""
    held = {str(canonical_entry(ip) or ip): ip for ip in listed}
    return sorted(set(wanted) - set(held)), sorted(ip for canonical, ip in held.items() if canonical not in wanted)


class OperatorBans:
    """The orders on the main thread: self.orders (name -> order as listed), self.order_results (name -> the report's
    entry), self.operator_bans (name -> (operator jail, ip, expires) of every valid ban order not yet ended),
    self.unban_index ((jail, ip) -> orderedAt of every valid unban order, for ban sharing; self.unban_keys: name ->
    (jail, ip) of each)."""

    def init_operator_bans(self):
        self.orders, self.order_results, self.caught_up = {}, {}, None
        self.operator_bans, self.unban_index, self.unban_keys = {}, {}, {}
        self.pending_orders = set()
        self.orders_synced = False
        self.next_order_sync = 0.0
        self.stray_operator_bans = Sightings(self.cfg.settle_seconds)
        self.lifted_bans = Sightings(self.cfg.settle_seconds)
        self.batch_listings = None  # jail -> its bans with their times, while a batch of orders is applied
        self.results_changed, self.order_error, self.reported_error = False, None, None
        self.order_watch = ListWatch(self.api, f'{self.api_prefix}/operatorbans', self.cfg, self.stop_event,
                                     lambda item: self.queue.put((self.handle_orders, item)), self.touch_status,
                                     ORDER_METADATA)

    # ------------------------------------------------------------------ order watcher thread
    def order_watcher_loop(self):
        """The orders are listed only after this node's report has been read: the main thread learns which orders it
        applied before it sees them."""
        report = self.read_own_report()
        if report is False:  # stopped first
            return
        self.queue.put((self.catch_up, applied_generations(report)))
        self.order_watch.loop()

    # ------------------------------------------------------------------ main thread
    def catch_up(self, applied):
        self.caught_up = applied
        if applied:
            log(f'the report shows {len(applied)} orders applied')

    def handle_orders(self, item):
        now = self.clock()
        if item[0] == 'list':
            listed = {o['metadata'].get('name'): o for o in item[1]
                      if isinstance(o.get('metadata'), dict) and not o['metadata'].get('deletionTimestamp')}
            for name in [name for name in self.orders if name not in listed]:  # deleted while not watching
                self.order_deleted(self.orders[name])
            with self.order_batch():
                for obj in listed.values():
                    self.order_seen(obj, now)
            if not self.orders_synced:
                log(f'listed {len(listed)} orders')
                self.results_changed = True  # the first report, even without any order
            self.orders_synced, self.caught_up = True, None  # what the report showed is now in order_results
            self.sync_operator_jails()
            return
        etype, obj = item[1], item[2]
        if etype == 'DELETED' or obj['metadata'].get('deletionTimestamp'):
            if obj['metadata'].get('name') in self.orders:
                self.order_deleted(obj)
        else:
            self.order_seen(obj, now)

    def order_seen(self, obj, now):
        name = obj['metadata'].get('name')
        self.orders[name] = obj
        order, reason = check_order(obj, self.cfg.operator_jails, self.cfg.never_ban)
        self.forget_order(name)
        if order is not None and order.action == 'ban' and (order.expires is None or order.expires > now):
            self.operator_bans[name] = (self.cfg.operator_jails[order.jail], order.ip, order.expires)
        elif order is not None and order.action == 'unban':
            self.unban_keys[name] = (order.jail, order.ip)
            self.unban_index[(order.jail, order.ip)] = order.ordered_at
        meta = obj['metadata']
        # The report's entry: which object (an order deleted and created again has another uid) at which generation.
        stamp = {'generation': meta.get('generation')}
        if isinstance(meta.get('uid'), str):
            stamp['uid'] = meta['uid']
        # Done already: in this run (a relist, a change of metadata only), or before a restart, as the report shows
        # (a refusal there is checked again: the configuration may have changed meanwhile). Only a result that the
        # check agrees with now: an order applied before a change of the configuration may be refused now.
        done = self.order_results.get(name) or (self.caught_up or {}).get(name)
        if done is not None and same_order(done, meta.get('uid'), meta.get('generation')) \
                and (done.get('result') == 'refused') == (order is None):
            self.set_result(name, done)
            self.pending_orders.discard(name)
            return
        self.pending_orders.add(name)
        self.apply_order(name, order, reason, stamp, now)

    def apply_order(self, name, order, reason, stamp, now):
        """Carries out a checked order and sets its result (`stamp`: its uid and generation for the report); if
        fail2ban does not answer, the order stays pending and is tried again on the next round."""
        generation = stamp['generation']
        if reason:
            log(f'refused order {name}: {reason}')
            self.set_result(name, dict(stamp, result='refused', detail=reason))
            self.pending_orders.discard(name)
            return
        commands = order_commands(order, self.cfg.operator_jails, now)
        if order.action == 'unban':
            # The jail: only a ban that started at or before the order (fail2ban's own ban after it is a new one).
            ok, listing = self.jail_bans(order.jail)
            if not ok:
                self.order_error = self.f2b_error
                return
            lifted = lifted_bans(listing, {order.ip: order.ordered_at})
            commands = [('set', order.jail, 'unbanip', ip) for ip in lifted] + commands
        changed = False
        for command in commands:
            ok, result = self._f2b(*command)
            if not ok:
                self.order_error = self.f2b_error
                return
            changed = changed or bool(result)
        if order.action == 'unban':
            # The mirror: the applied records that the order refuses from now on (banned at or before it) go, and
            # with the last of them the ban; records banned after the order stay, and so does their ban.
            for record, (ban, _, _) in sorted(self.applied.items()):
                refusal = unban_order_refusal(ban, {(order.jail, order.ip): order.ordered_at})
                if refusal:
                    ok, result = self.unban(record, f'refused: {refusal}')
                    if not ok:
                        self.order_error = self.f2b_error
                        return
                    changed = changed or bool(result)
        what = 'banned' if order.action == 'ban' and name in self.operator_bans else 'unbanned'
        log(f'order {name} (generation {generation}): {what} {order.ip}'
            + (f' until {format_time(order.expires)}' if name in self.operator_bans and order.expires else '')
            + ('' if changed else ', nothing to change'))
        self.set_result(name, dict(stamp, result='changed' if changed else 'unchanged'))
        self.pending_orders.discard(name)
        self.metrics.inc('f2b_agent_operator_orders_applied_total', action=order.action)

    @contextlib.contextmanager
    def order_batch(self):
        """While many orders are applied at once (the LIST, the pending ones), each jail is listed only once: a node
        catching up on N unban orders would otherwise list a jail of thousands of bans N times. Each (jail, ip) has
        one order, so no order of the batch needs to see another's unban in the list."""
        self.batch_listings = {}
        try:
            yield
        finally:
            self.batch_listings = None

    def jail_bans(self, jail):
        """(ok, [(ip, start, bantime)]): `get J banip --with-time`, once per batch of orders."""
        if self.batch_listings is not None and jail in self.batch_listings:
            return True, self.batch_listings[jail]
        ok, result = self._f2b('get', jail, 'banip', '--with-time')
        if not ok:
            return False, None
        bans = parse_banlist(result)
        if self.batch_listings is not None:
            self.batch_listings[jail] = bans
        return True, bans

    def set_result(self, name, entry):
        if self.order_results.get(name) != entry:
            self.order_results[name] = entry
            self.results_changed = True

    def order_deleted(self, obj):
        name = obj['metadata'].get('name')
        self.orders.pop(name, None)
        self.pending_orders.discard(name)
        if self.order_results.pop(name, None) is not None:
            self.results_changed = True
        lifted = self.forget_order(name)
        if lifted is not None:
            operator_jail, ip, _ = lifted
            if self._f2b('set', operator_jail, 'unbanip', ip)[0]:
                log(f'order {name} deleted: unbanned {ip} in {operator_jail}')

    def forget_order(self, name):
        """Drops what a valid order of `name` held; returns (operator jail, ip, expires) if it held a ban."""
        key = self.unban_keys.pop(name, None)
        if key is not None:
            del self.unban_index[key]
        return self.operator_bans.pop(name, None)

    def next_order_end(self, now):
        """The next end of a ban order after `now`, or None. An end already past (its unban failed: fail2ban is
        down) is retried at every round, and must not make the main loop spin."""
        ends = [expires for _, _, expires in self.operator_bans.values() if expires is not None and expires > now]
        return min(ends, default=None)

    def order_round(self):
        """On every turn of the main loop: orders fail2ban could not take yet, bans at their end, every
        mirror_sync_seconds the operator jails against the orders; then the reporter learns of new results."""
        now = self.clock()
        with self.order_batch():
            for name in sorted(self.pending_orders):
                self.order_seen(self.orders[name], now)
        for name, (operator_jail, ip, expires) in sorted(self.operator_bans.items()):
            if expires is not None and expires <= now and self._f2b('set', operator_jail, 'unbanip', ip)[0]:
                del self.operator_bans[name]
                log(f'order {name} expired: unbanned {ip} in {operator_jail}')
        if self.orders_synced and time.monotonic() >= self.next_order_sync:
            self.sync_operator_jails()
        error = f'{len(self.pending_orders)} orders not applied yet: {self.order_error}' if self.pending_orders else None
        if self.results_changed or error != self.reported_error:
            self.results_changed, self.reported_error = False, error
            self.report_results(dict(self.order_results), error)

    def sync_operator_jails(self):
        """The operator jails hold exactly the valid, unexpired ban orders: fail2ban may have lost bans (a restart
        without its database) or hold ones no order wants any more (deleted while this agent was down). Strays go
        only once a listing SETTLE_SECONDS later still shows them (see SETTLE_SECONDS). Then the jails against the
        unban orders (sync_unban_orders)."""
        now, listed_at = self.clock(), time.monotonic()
        self.next_order_sync = listed_at + self.cfg.mirror_sync_seconds
        wanted = collections.defaultdict(set)
        for operator_jail, ip, expires in self.operator_bans.values():
            if expires is None or expires > now:
                wanted[operator_jail].add(ip)
        strays = set()
        for operator_jail in sorted(set(self.cfg.operator_jails.values())):
            ok, listed = self._f2b('get', operator_jail, 'banip')
            if not ok:
                continue
            lost, stray = operator_jail_plan(wanted[operator_jail], banip_entries(listed))
            for ip in lost:
                if self._f2b('set', operator_jail, 'banip', ip)[0]:
                    log(f're-banned {ip} in {operator_jail}: fail2ban had lost it')
            strays.update((operator_jail, ip) for ip in stray)
        for operator_jail, ip in sorted(self.stray_operator_bans.settled(strays, listed_at)):
            if self._f2b('set', operator_jail, 'unbanip', ip)[0]:
                log(f'unbanned {ip} in {operator_jail}: no order holds it')
        self.sync_unban_orders(listed_at)

    def sync_unban_orders(self, listed_at):
        """A ban that an unban order lifts (started at or before it) may come back after the order was applied:
        fail2ban restores its database a while after it answers, and an unban sent before that found nothing. Each
        jail with unban orders is listed (with the bans' times only when it holds one of their addresses); such a
        ban goes once a listing SETTLE_SECONDS later still shows it."""
        unbans = collections.defaultdict(dict)  # jail -> canonical ip -> orderedAt
        for (jail, ip), ordered_at in self.unban_index.items():
            unbans[jail][ip] = ordered_at
        lifted = set()
        for jail in sorted(unbans):
            ok, listed = self._f2b('get', jail, 'banip')
            if not ok or not canonical_listing(listed) & set(unbans[jail]):
                continue  # not listed, or none of the ordered addresses is banned
            ok, listing = self._f2b('get', jail, 'banip', '--with-time')
            if ok:
                lifted.update((jail, ip) for ip in lifted_bans(parse_banlist(listing), unbans[jail]))
        for jail, ip in sorted(self.lifted_bans.settled(lifted, listed_at)):
            if self._f2b('set', jail, 'unbanip', ip)[0]:
                log(f'unbanned {ip} in {jail}: banned at or before the unban order {address_name(jail, ip)}')
