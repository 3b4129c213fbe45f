"""The node agent's metrics (README: "Metrics"): fail2ban's jails as hectorjsmith/fail2ban-prometheus-exporter exposes
them, and the agent's own, in Prometheus' text format on METRICS_ADDRESS:METRICS_PORT/metrics. The series, their
types and help are agent/metrics.json's, which the package's alerts and dashboard read too.

fail2ban is read through the broker (`status`, `status JAIL short`, `get JAIL bantime|findtime|maxretry`,
`version`: counts and settings, never an address) at most once per SNAPSHOT_SECONDS, however often Prometheus
scrapes: a scrape in between gets the last snapshot. fail2ban's totals start from 0 when fail2ban restarts; the
agent adds what it had seen before, so that its counters only grow while it runs (a restart is seen when a snapshot
finds fail2ban's socket gone, or a total lower than before).
"""

import http.server
import json
import os
import socket
import threading
import time

from .f2b_socket import F2bError
from .records import ALWAYS_NEVER_BAN

CATALOG = json.load(open(os.path.join(os.path.dirname(__file__), 'metrics.json')))['series']
SERIES = {series['name']: series for series in CATALOG}
VERSION = '1'  # of the agent, for f2b_version's `exporter` label
SNAPSHOT_SECONDS = 10.0
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
    """The agent's own counters and gauges, set by its threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}  # (name, ((label, value), ...)) -> number

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
    """fail2ban's jails, read at most every `interval` seconds; counters kept monotonic across fail2ban's restarts."""

    def __init__(self, f2b, registry, interval=SNAPSHOT_SECONDS, clock=time.monotonic, wall=time.time):
        self.f2b, self.registry, self.interval, self.clock, self.wall = f2b, registry, interval, clock, wall
        self.lock = threading.Lock()
        self.taken, self.samples = None, {}
        self.errors = {'socket_conn': 0, 'socket_req': 0}
        self.seen = {}  # (series, jail) -> (fail2ban's last value, what it had counted before its restarts)
        # fail2ban's socket was gone: the server that answers next is a new one, whatever its counts. A restart between
        # two snapshots is seen only by a count that went down (restored bans count again in fail2ban's total).
        self.restarted = False

    def get(self):
        with self.lock:  # one round at a time; scrapes meanwhile wait for it and share it
            now = self.clock()
            if self.taken is None or now - self.taken >= self.interval:
                self.samples, self.taken = self.take(), now
            return self.samples

    def monotonic(self, name, jail, value):
        last, before = self.seen.get((name, jail), (0, 0))
        if value < last or self.restarted:  # fail2ban restarted: its count started again from 0
            before += last
        self.seen[(name, jail)] = (value, before)
        return before + value

    def take(self):
        samples = {('f2b_errors', (('type', kind),)): count for kind, count in self.errors.items()}
        try:
            jails, version = self.read()
        except F2bError as error:
            kind = 'socket_conn' if 'cannot connect' in str(error) else 'socket_req'
            self.restarted = self.restarted or kind == 'socket_conn'
            self.errors[kind] += 1
            samples[('f2b_errors', (('type', kind),))] = self.errors[kind]
            self.registry.inc('f2b_agent_errors_total', kind='fail2ban')
            return {**samples, ('f2b_up', ()): 0}
        samples[('f2b_up', ())] = 1
        samples[('f2b_jail_count', ())] = len(jails)
        samples[('f2b_version', (('exporter', VERSION), ('fail2ban', version)))] = 1
        for jail, stats in jails.items():
            label = (('jail', jail),)
            samples[('f2b_jail_failed_current', label)] = stats['failed_current']
            samples[('f2b_jail_banned_current', label)] = stats['banned_current']
            for name in ('f2b_jail_failed_total', 'f2b_jail_banned_total'):
                samples[(name, label)] = self.monotonic(name, jail, stats[name])
            for name in ('f2b_config_jail_ban_time', 'f2b_config_jail_find_time', 'f2b_config_jail_max_retries'):
                samples[(name, label)] = stats[name]
        self.restarted = False
        self.registry.set('f2b_agent_last_sync_timestamp_seconds', self.wall(), source='fail2ban')
        return samples

    def read(self):
        """{jail: stats} and fail2ban's version, through the broker; F2bError if any command failed."""
        version = str(self.f2b.command('version'))
        status = dict(self.f2b.command('status'))
        names = [name.strip() for name in str(status.get('Jail list', '')).split(',') if name.strip()]
        jails = {}
        for jail in names:
            try:
                sections = {key: dict(values) for key, values in self.f2b.command('status', jail, 'short')}
                jails[jail] = {
                    'failed_current': int(sections['Filter']['Currently failed']),
                    'f2b_jail_failed_total': int(sections['Filter']['Total failed']),
                    'banned_current': int(sections['Actions']['Currently banned']),
                    'f2b_jail_banned_total': int(sections['Actions']['Total banned']),
                    'f2b_config_jail_ban_time': int(self.f2b.command('get', jail, 'bantime')),
                    'f2b_config_jail_find_time': int(self.f2b.command('get', jail, 'findtime')),
                    'f2b_config_jail_max_retries': int(self.f2b.command('get', jail, 'maxretry')),
                }
            except (KeyError, TypeError, ValueError) as error:
                raise F2bError(f'status {jail}: unexpected answer ({error!r})') from None
        return jails, version


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


class MetricsServer(http.server.ThreadingHTTPServer):
    """GET /metrics: the snapshot of fail2ban and the agent's registry. `gauges` is called at each scrape for the
    values the agent keeps elsewhere (the pod-log jails' files). An IPv6 address (a node's status.hostIP on an
    IPv6-only cluster) gets an IPv6 socket."""

    daemon_threads = True

    def __init__(self, address, snapshot, registry, gauges=lambda: {}):
        self.snapshot, self.registry, self.gauges = snapshot, registry, gauges
        self.address_family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def render(self):
        samples = {**self.registry.samples(), **self.gauges(), **self.snapshot.get()}
        for series in CATALOG:  # a counter of the agent's own that never counted is 0, not absent
            if series['name'].startswith('f2b_agent_') and series['type'] == 'counter' and not series['labels']:
                samples.setdefault((series['name'], ()), 0)
        return exposition(samples)


class _Handler(http.server.BaseHTTPRequestHandler):
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
