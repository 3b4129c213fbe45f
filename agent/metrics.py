"""The node agent's metrics (README: "Metrics"): fail2ban's jails as hectorjsmith/fail2ban-prometheus-exporter exposes
them, and the agent's own, in Prometheus' text format on METRICS_ADDRESS:METRICS_PORT/metrics. The series, their
types and help are agent/metrics.json's, which the tests check the package's alerts and dashboard against.

fail2ban is read through the broker (`generation`, `version`, `status`, `status JAIL short`, `get JAIL
bantime|findtime|maxretry`: counts and settings, never an address) once per SNAPSHOT_SECONDS by the agent's snapshot
thread, however often Prometheus scrapes: a scrape gets the last snapshot. The totals are counters of the agent's
(Fail2banSnapshot): they only grow while it runs, across fail2ban's restarts.
"""

import http.server
import json
import os
import socket
import threading
import time

from .bounded import BoundedThreadingMixIn
from .f2b_socket import F2bError
from .records import ALWAYS_NEVER_BAN

CATALOG = json.load(open(os.path.join(os.path.dirname(__file__), 'metrics.json')))['series']
VERSION = '1'  # of the agent, for f2b_version's `exporter` label
SNAPSHOT_SECONDS = 10.0
MAX_CONNECTIONS = 4  # scrapes at once: Prometheus makes one per interval, a second stack another
IDLE_SECONDS = 5
# The label values each labelled counter of the agent's starts with at 0: rate() and increase() count from a first
# sample, so a series that appears at 1 would hide its first event.
COUNTER_LABELS = {
    'f2b_agent_errors_total': ('kind', ('sharing', 'orders', 'pod_logs', 'main', 'fail2ban')),
    'f2b_agent_sharing_refused_total': ('reason', ('never_ban', 'unban_order', 'rate_limit', 'node_cap', 'future', 'invalid')),
    'f2b_agent_operator_orders_applied_total': ('action', ('ban', 'unban')),
}
# records.address_refusal's answers for the ranges no jail bans
ALWAYS_REFUSED = {f'{what} address' for _, what in ALWAYS_NEVER_BAN}


def refusal_kind(reason):
    """A shared record's refusal (the texts of records.py and decisions.py) as a label value from a fixed few: the
    text holds addresses and times."""
    if reason.startswith('inside NEVER_BAN ') or reason in ALWAYS_REFUSED:  # the never-ban list, or a range no jail bans
        return 'never_ban'
    for kind, words in (('unban_order', 'unban order'), ('rate_limit', 'rate limit'), ('node_cap', 'records per node'),
                        ('future', 'in the future')):
        if words in reason:
            return kind
    return 'invalid'


class Registry:
    """The agent's own counters and gauges, set by its threads; the counters of COUNTER_LABELS, and those of
    `shared_jails` (ban sharing's, by jail), start at 0."""

    def __init__(self, shared_jails=()):
        self.lock = threading.Lock()
        self.values = {}  # (name, ((label, value), ...)) -> number
        for name, (label, values) in COUNTER_LABELS.items():
            for value in values:
                self.values[(name, ((label, value),))] = 0
        for jail in shared_jails:
            for name in ('f2b_agent_sharing_published_total', 'f2b_agent_sharing_applied_total'):
                self.values[(name, (('jail', jail),))] = 0

    def inc(self, name, amount=1, **labels):
        key = (name, tuple(sorted(labels.items())))
        with self.lock:
            self.values[key] = self.values.get(key, 0) + amount

    def set(self, name, value, **labels):
        with self.lock:
            self.values[(name, tuple(sorted(labels.items())))] = value

    def samples(self):
        with self.lock:
            return dict(self.values)


class Fail2banSnapshot:
    """fail2ban's jails, read at most every `interval` seconds.

    The totals count from the agent's first snapshot of a fail2ban server: fail2ban's own start from 0 at each of its
    starts and include the bans it restores from its database then, which are no new bans. So each server (told
    apart by the broker's `generation`: its socket's identity) has a baseline, its totals at the agent's first
    snapshot of it, and the counters add what each server counted beyond its baseline: they only grow while the agent
    runs, and a restart adds nothing by itself. What a server counted before that first snapshot (at most `interval`
    after its start) is left out."""

    def __init__(self, f2b, registry, interval=SNAPSHOT_SECONDS, clock=time.monotonic, wall=time.time):
        self.f2b, self.registry, self.interval, self.clock, self.wall = f2b, registry, interval, clock, wall
        self.lock = threading.Lock()
        self.taken, self.samples = None, {}
        self.errors = {'socket_conn': 0, 'socket_req': 0}
        self.generation = None
        self.baseline = {}  # (series, jail) -> the current server's total at its first snapshot
        self.last = {}  # (series, jail) -> the current server's total at the last snapshot
        self.before = {}  # (series, jail) -> what earlier servers counted beyond their baselines

    def get(self):
        with self.lock:  # one round at a time; scrapes meanwhile wait for it and share it
            if self.taken is None or self.clock() - self.taken >= self.interval:
                try:
                    self.samples = self.take()
                except Exception:  # an answer of an unexpected shape: a failed read, not a dead scrape
                    self.samples = self.failed('socket_req')
                self.taken = self.clock()  # after the round: a slow round is not followed by another at once
            return self.samples

    def total(self, name, jail, value):
        key = (name, jail)
        baseline = self.baseline.setdefault(key, value)  # a jail seen first now (a reload) counts from here too
        self.last[key] = value
        return self.before.get(key, 0) + max(0, value - baseline)

    def new_server(self):
        for key, value in self.last.items():
            self.before[key] = self.before.get(key, 0) + max(0, value - self.baseline.get(key, value))
        self.baseline, self.last = {}, {}

    def count_failure(self, kind):
        self.errors[kind] += 1
        self.registry.inc('f2b_agent_errors_total', kind='fail2ban')

    def failed(self, kind):
        """The samples of a round that could not read fail2ban at all."""
        self.count_failure(kind)
        return {**self.error_samples(), ('f2b_up', ()): 0}

    def error_samples(self):
        return {('f2b_errors', (('type', kind),)): count for kind, count in self.errors.items()}

    def take(self):
        try:
            generation = self.f2b.command('generation')
            version = str(self.f2b.command('version'))
            status = dict(self.f2b.command('status'))
        except F2bError as error:
            return self.failed('socket_conn' if 'cannot connect' in str(error) else 'socket_req')
        if generation != self.generation:
            if self.generation is not None:
                self.new_server()
            self.generation = generation
        names = [name.strip() for name in str(status.get('Jail list', '')).split(',') if name.strip()]
        samples = {('f2b_up', ()): 1, ('f2b_jail_count', ()): len(names),
                   ('f2b_version', (('exporter', VERSION), ('fail2ban', version))): 1}
        for jail in names:
            try:  # one jail that cannot be read (refused, or gone in a reload) leaves the others
                stats = self.jail(jail)
            except (F2bError, KeyError, TypeError, ValueError):
                self.count_failure('socket_req')
                continue
            label = (('jail', jail),)
            for name, value in stats.items():
                samples[(name, label)] = self.total(name, jail, value) if name.endswith('_total') else value
        samples.update(self.error_samples())
        self.registry.set('f2b_agent_last_sync_timestamp_seconds', self.wall(), source='fail2ban')
        return samples

    def jail(self, jail):
        """A jail's counts and settings, through the broker."""
        sections = {key: dict(values) for key, values in self.f2b.command('status', jail, 'short')}
        return {
            'f2b_jail_failed_current': int(sections['Filter']['Currently failed']),
            'f2b_jail_failed_total': int(sections['Filter']['Total failed']),
            'f2b_jail_banned_current': int(sections['Actions']['Currently banned']),
            'f2b_jail_banned_total': int(sections['Actions']['Total banned']),
            'f2b_config_jail_ban_time': int(self.f2b.command('get', jail, 'bantime')),
            'f2b_config_jail_find_time': int(self.f2b.command('get', jail, 'findtime')),
            'f2b_config_jail_max_retries': int(self.f2b.command('get', jail, 'maxretry')),
        }


def _value(number):
    return repr(float(number)) if isinstance(number, float) else str(int(number))


def _labels(labels):
    if not labels:
        return ''
    quoted = (value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"') for _, value in labels)
    return '{' + ','.join(f'{key}="{value}"' for (key, _), value in zip(labels, quoted)) + '}'


def exposition(samples):
    """Prometheus' text format (version 0.0.4) of `samples` ((name, labels) -> value), in the catalog's order."""
    lines = []
    for series in CATALOG:
        rows = sorted((labels, value) for (name, labels), value in samples.items() if name == series['name'])
        if not rows:
            continue
        lines += [f'# HELP {series["name"]} {series["help"]}', f'# TYPE {series["name"]} {series["type"]}']
        lines += [f'{series["name"]}{_labels(labels)} {_value(value)}' for labels, value in rows]
    return '\n'.join(lines) + '\n'


class MetricsServer(BoundedThreadingMixIn, http.server.HTTPServer):
    """GET /metrics: the snapshot of fail2ban and the agent's registry. `gauges` is called at each scrape for the
    values the agent keeps elsewhere (the pod-log jails' files). Any pod can reach the port: MAX_CONNECTIONS at once,
    each dropped when idle. An IPv6 address (a node's status.hostIP on an IPv6-only cluster) gets an IPv6 socket."""

    max_connections = MAX_CONNECTIONS

    def __init__(self, address, snapshot, registry, gauges=lambda: {}):
        self.snapshot, self.registry, self.gauges = snapshot, registry, gauges
        self.address_family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def render(self):
        return exposition({**self.registry.samples(), **self.gauges(), **self.snapshot.get()})


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = IDLE_SECONDS  # a client that sends nothing loses its connection (and its slot)

    def do_GET(self):
        if self.path.split('?')[0] != '/metrics':
            self.send_error(404)
            return
        body = self.server.render().encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # one line per scrape would flood the pod's log
        pass
