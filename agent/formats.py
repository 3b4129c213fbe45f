"""What the node agent reads from others: outbox events of the publish action, WATCH stream lines, fail2ban's ban
lists. Each parser refuses what is malformed with a ValueError that says why."""

import ipaddress
import json
import re
import time

from .records import _integer

# one line of `get JAIL banip --with-time`: "192.0.2.10 \t2026-11-26 11:59:30 + 86400 = 2026-11-27 11:59:30"
BANLIST_RE = re.compile(r'^(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+ (-?\d+)(?:\.\d*)? = ')


def parse_outbox_event(text):
    """One outbox line -> {op, jail, ip, time, bantime, restored}; ValueError if malformed. `restored` (fail2ban's
    tag: a ban restored from its database after a restart) is False when missing: an older action."""
    try:
        event = json.loads(text)
    except ValueError:
        raise ValueError('not JSON') from None
    if not isinstance(event, dict) or event.get('op') not in ('ban', 'unban'):
        raise ValueError('op is not ban or unban')
    jail = event.get('jail')
    if not isinstance(jail, str) or not jail:
        raise ValueError('no jail')
    try:
        ip = str(ipaddress.ip_address(event.get('ip')))
    except ValueError:
        raise ValueError(f'ip {event.get("ip")!r} is not an address') from None
    bantime, start = _integer(event.get('bantime'), 'bantime'), _integer(event.get('time'), 'time')
    if not 0 < start < 2 ** 33:
        raise ValueError(f'time {start} is out of range')
    restored = _integer(event.get('restored', 0), 'restored') != 0
    return {'op': event['op'], 'jail': jail, 'ip': ip, 'time': start, 'bantime': -1 if bantime < 0 else bantime,
            'restored': restored}


RECORD_METADATA = ('name', 'uid', 'resourceVersion', 'deletionTimestamp')
ORDER_METADATA = RECORD_METADATA + ('generation',)


def compact(obj, metadata=RECORD_METADATA):
    """What the agent keeps of a record or an order: its spec and the `metadata` it reads. A ledger of thousands of
    records then costs a fraction of the objects the API sends (managedFields, labels, annotations)."""
    meta = obj.get('metadata') if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return obj
    kept = {key: meta[key] for key in metadata if key in meta}
    return {'metadata': kept, 'spec': obj.get('spec')}


def parse_watch_event(line):
    """One line of a watch stream -> (type, object); ValueError if malformed."""
    try:
        event = json.loads(line)
    except ValueError:
        raise ValueError('watch event is not JSON') from None
    if not isinstance(event, dict) or event.get('type') not in ('ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR') \
            or not isinstance(event.get('object'), dict):
        raise ValueError('malformed watch event')
    if event['type'] != 'ERROR' and not isinstance(event['object'].get('metadata'), dict):
        raise ValueError('watch event without metadata')
    return event['type'], event['object']


def banip_entries(answer):
    """`get JAIL banip` -> its entries as fail2ban was given them (a list through the socket, words when printed)."""
    return answer if isinstance(answer, list) else str(answer or '').split()


def canonical_entry(entry):
    """An entry of fail2ban's ban list -> the address (ipaddress, canonical when printed), or None when it is not one
    plain address: fail2ban lists what it was given, a range, a zone or text included."""
    try:
        address = ipaddress.ip_address(entry if isinstance(entry, str) else '')
    except ValueError:
        return None
    return None if getattr(address, 'scope_id', None) else address


def parse_banlist(result):
    """`get JAIL banip --with-time` (local time, TZ) -> [(ip, start epoch, bantime)], bantime -1 permanent."""
    lines = result.splitlines() if isinstance(result, str) else list(result or [])
    bans = []
    for line in lines:
        match = BANLIST_RE.match(str(line))
        if match:
            start = time.mktime(time.strptime(match.group(2), '%Y-%m-%d %H:%M:%S'))
            bans.append((match.group(1), int(start), max(int(match.group(3)), -1)))
    return bans


def outbox_order(filename):
    """`<epoch ns>-<pid>.event` in the order written."""
    try:
        ns, pid = filename[:-len('.event')].split('-', 1)
        return 0, int(ns), int(pid), filename
    except ValueError:
        return 1, 0, 0, filename
