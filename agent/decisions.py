"""The node agent's decisions, as plain functions of what it knows: which records to apply or refuse, what to do at a
record's deletion, whether a local ban is to be published or unbanned."""

import collections

from .records import FUTURE_SLACK, effective_end, format_end, later, parse_record, spec_end, spec_of, validate_record

def merge_decision(existing, spec, node):
    """After a 409: ('update', why) if `existing` is this node's and `spec` ends later, else ('keep', why)."""
    try:
        old = parse_record(existing)
    except ValueError as error:
        return 'keep', f'the existing record is unreadable ({error})'
    if old.node != node:
        return 'keep', f'{old.node} holds it until {format_end(old.end)}'
    new_end = spec_end(spec)
    if later(new_end, old.end):
        return 'update', f'until {format_end(new_end)} instead of {format_end(old.end)}'
    return 'keep', f'it already lasts until {format_end(old.end)}'


class RateLimiter:
    """At most `per_minute` applications per origin node in any 60 s."""

    def __init__(self, per_minute):
        self.per_minute = per_minute
        self.times = collections.defaultdict(collections.deque)

    def allow(self, node, now):
        times = self.times[node]
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True

    def refund(self, node):
        if self.times[node]:
            self.times[node].pop()


def plan(ledger, applied, refused, node, shared, never_ban, limiter, now, checks=None, cap=None, unbans=None):
    """What to do about the mirror jails, given the ledger (name -> record), what is applied (name -> (Ban, mirror,
    end)) and the refusals already made (name -> resourceVersion). Actions: ('apply', name, ban, mirror, end),
    ('retime', name, ban, mirror, end), ('unban', name, reason), ('refuse', name, rv, reason),
    ('defer', name, ban, why): over the rate limit, or over `cap` active records of one origin node (a node that
    floods the ledger gets no more than that applied here). `checks` (RecordChecks) keeps the checks of records still
    in the ledger for the next plan; `unbans` are the operators' unban orders (records.unban_order_refusal)."""
    if checks:
        checks.keep_only(ledger.values())
    actions = []
    # Records of each origin node applied here and not ended, counted before any new one is let in.
    active = collections.Counter(ban.node for ban, _, end in applied.values() if end is None or end > now)
    for name in sorted(ledger):
        obj = ledger[name]
        rv = obj.get('metadata', {}).get('resourceVersion')
        if spec_of(obj).get('node') == node:
            if name in applied:  # became this node's own record: the origin jail holds it
                actions.append(('unban', name, 'now this node\'s own record'))
            continue
        if name in refused and refused[name] == rv and name not in applied:
            continue
        ban, reason = validate_record(obj, shared, never_ban, now, checks, unbans)
        if reason:
            actions.append(('refuse', name, rv, reason))
            if name in applied:
                actions.append(('unban', name, 'refused: ' + reason))
            continue
        mirror = shared[ban.jail].mirror
        end = effective_end(ban, shared[ban.jail].max_ban_time)
        if end is not None and end <= now:
            if name in applied:
                actions.append(('unban', name, 'ended'))
        elif name in applied:
            if applied[name][2] != end or applied[name][0].node != ban.node:
                actions.append(('retime', name, ban, mirror, end))
        elif cap is not None and active[ban.node] >= cap:
            actions.append(('defer', name, ban, f'over the cap of {cap} records per node'))
        elif limiter.allow(ban.node, now):
            active[ban.node] += 1
            actions.append(('apply', name, ban, mirror, end))
        else:
            actions.append(('defer', name, ban, f'over the rate limit ({limiter.per_minute} per minute)'))
    actions.extend(('unban', name, 'record deleted') for name in sorted(applied) if name not in ledger)
    return actions


def deletion_actions(obj, by_me, node, shared, now):
    """A record disappeared. This node's own record deleted before its end by someone else (an administrator: no
    other node may delete it) is a cluster-wide unban, so the origin jail here lets the address go too ->
    [('unban-origin', jail, ip, node)]. Another node's record going away never touches this node's own ban, and
    neither does the owner's clean-up after the end (within FUTURE_SLACK for clock skew)."""
    if by_me:
        return []
    try:
        ban = parse_record(obj)
    except ValueError:
        return []
    if ban.node != node or ban.jail not in shared or (ban.end is not None and now >= ban.end - FUTURE_SLACK):
        return []
    return [('unban-origin', ban.jail, ban.ip, ban.node)]


def local_ban_decision(name, start, end, ledger, published, tombstones, node, now):
    """What to do about a ban in one of this node's origin jails (since `start`, until `end`, None: permanent),
    given the ledger (name -> record), this node's records as last seen there (name -> state entry) and the
    deletions by someone else seen while watching (name -> when): ('keep' | 'publish' | 'unban', why).
    'unban': its record was deleted by someone else after the ban began (`kubectl delete ban`, possibly while this
    agent was down), a cluster-wide unban that this ban must follow, not undo by publishing it again."""
    if name in ledger:
        try:
            held = parse_record(ledger[name])
        except ValueError:
            return 'keep', 'its record is unreadable'
        if later(end, held.end):
            return 'publish', f'it lasts longer than this node\'s record (until {format_end(held.end)})'
        return 'keep', f'this node\'s record holds it until {format_end(held.end)}'
    entry = published.get(name)
    # The record this node published began with this ban (a later ban of the address would have replaced it).
    if entry is not None and start <= entry['bannedAt'] and (entry['end'] is None or entry['end'] > now):
        return 'unban', 'this node\'s record of it was deleted by someone else'
    if name in tombstones and start <= tombstones[name]:
        return 'unban', 'its record was deleted by someone else after it began'
    return 'publish', 'missing from the ledger'


class Sightings:
    """Addresses a listing of fail2ban showed as unwanted, and since when: only those still unwanted in a listing
    SETTLE_SECONDS after the first one are acted on (see SETTLE_SECONDS)."""

    def __init__(self, settle_seconds):
        self.settle_seconds, self.first = settle_seconds, {}

    def settled(self, unwanted, now):
        """`unwanted`: the keys a listing at monotonic time `now` shows as unwanted; returns those settled.
        A key not in this listing is forgotten: a later sighting starts over."""
        self.first = {key: self.first.get(key, now) for key in unwanted}
        return {key for key, since in self.first.items() if now - since >= self.settle_seconds}

    def pending(self):
        return bool(self.first)
