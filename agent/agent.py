"""The node agent: the container beside fail2ban on every node. It shares bans between the nodes (docs/ban-sharing.md),
applies the operators' OperatorBan orders (docs/operator-bans.md), and keeps the pod-log jails' files equal to their
pods' logs on this node (pod_logs.py), and serves metrics (metrics.py), each when configured.

Threads, one job each (the first two with ban sharing, the next two with operator bans, then pod-log jails, metrics):
  ledger watcher  LIST + WATCH of the Ban records -> the queue (relist on 410 or any error).
  publisher       outbox event files -> Ban records (POST; 409 -> GET, PUT if later; unban -> DELETE), in order, with
                  retries; bans restored from fail2ban's database are not published again. Once the first LIST is in
                  and then every REPUBLISH_SECONDS: local bans against the ledger (publish what it lacks, unban what an
                  administrator deleted meanwhile), own records ended + GRACE.
  order watcher   reads this node's Fail2banNode (which orders it applied before), then LIST + WATCH of the
                  OperatorBans -> the queue.
  reporter        the orders' results and the jails' lists -> this node's Fail2banNode (POST, then PUT), coalesced.
  pod-logs        the kubelet's container log files of each pod-log jail's pods -> the jail's log files, every second.
  metrics         (with METRICS_ADDRESS) /metrics; a snapshot thread reads fail2ban every METRICS_SNAPSHOT_SECONDS.
  main            the queue -> the ledger (name -> record); applies other nodes' valid records to the mirror jails and
                  unbans them at their end or deletion; a deletion before the end made by someone else also unbans the
                  origin jail here (a cluster-wide unban). The queue -> the orders: bans in the operator jails, ended
                  at their expiry or deletion; unbans in the jail, its operator jail and its mirror, and the mirrors
                  refuse records of the address banned before the unban. Every MIRROR_SYNC_SECONDS: the mirror jails
                  against the ledger, the operator jails against the orders. Records are applied only once the orders
                  are listed, so that none an unban order refuses is applied first.
Each watcher touches STATUS_FILE. STATE_FILE remembers this node's records seen in the ledger, so that a restarted
agent tells a record deleted while it was down (a cluster-wide unban) from a ban it never published.
The decisions are plain functions (records, decisions, operator_bans, reports, formats); the API (kube), fail2ban
through the broker (f2b_socket), STATE_FILE (state), the listing of the pod-log directories (pod_logs) and the
metrics endpoint (metrics) are the only I/O. Standard library only.
"""

import os
import queue
import threading
import time

from .decisions import RateLimiter, Sightings
from .f2b_socket import Fail2ban
from .kube import Api
from . import log as agent_log
from .log import log
from .metrics import Fail2banSnapshot, MetricsServer, Registry, refusal_kind
from .mirrors import MirrorSync
from .operator_bans import OperatorBans
from .pod_logs import PodLogSync
from .publisher import Publisher
from .records import RecordChecks
from .reports import Reporter
from .state import PublishedState
from .watcher import ListWatch

# f2b_agent_errors_total's kind of an error, by the thread that logged it (agent/metrics.json).
ERROR_KINDS = {'ledger-watcher': 'sharing', 'publisher': 'sharing', 'order-watcher': 'orders', 'reporter': 'orders',
               'pod-logs': 'pod_logs'}


class NodeAgent(MirrorSync, Publisher, OperatorBans, Reporter):
    def __init__(self, config, api=None, f2b=None, clock=time.time):
        self.cfg, self.clock = config, clock
        self.api = api or Api(config.api, config.token_file, config.ca_file)
        self.f2b = f2b or Fail2ban(config.socket_path)
        self.api_prefix = f'/apis/{config.group}/v1/namespaces/{config.namespace}'
        self.collection = f'{self.api_prefix}/bans'
        self.stop_event = threading.Event()
        self.queue = queue.Queue()
        self.lock = threading.Lock()  # guards ledger, tombstones, my_deletes, synced, state (both threads use them)
        self.ledger, self.tombstones, self.my_deletes, self.synced = {}, {}, set(), False
        self.state = PublishedState(config.state_file)
        self.applied, self.refused, self.deferred = {}, {}, set()
        self.limiter = RateLimiter(config.rate_limit)
        self.checks = RecordChecks()
        self.unpublishable = set()
        self.f2b_error = None
        self.next_sync = 0.0
        self.stray_mirror_bans = Sightings(config.settle_seconds)
        self.deleted_local_bans = Sightings(config.settle_seconds)
        self.threads = []
        self.ledger_watch = ListWatch(self.api, self.collection, config, self.stop_event,
                                      lambda item: self.queue.put((self.handle, item)), self.touch_status)
        self.pod_log_sync = PodLogSync(self.f2b, config.pod_logs, self.stop_event)
        self.metrics = Registry(shared_jails=config.shared)
        # From the start: an agent that never reads the API is as stale as one that stopped (the NotSyncing alert).
        self.metrics.set('f2b_agent_last_sync_timestamp_seconds', clock(), source='api')
        self.metrics_server = None
        self.init_operator_bans()
        self.init_reporter()

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        targets = []
        if self.cfg.shared:
            try:
                os.mkdir(self.cfg.outbox)
                # fail2ban writes its events as root without CAP_DAC_OVERRIDE; this agent (uid 10001) deletes them.
                os.chmod(self.cfg.outbox, 0o777)
            except FileExistsError:
                pass  # fail2ban's publish action made it, with the same mode
            targets += [('ledger-watcher', self.ledger_watch.loop), ('publisher', self.publisher_loop)]
        if self.cfg.operator_jails:
            targets += [('order-watcher', self.order_watcher_loop), ('reporter', self.reporter_loop)]
        if self.cfg.pod_logs.jails:
            targets += [('pod-logs', self.pod_log_sync.loop)]
        if self.count_error not in agent_log.error_observers:
            agent_log.error_observers.append(self.count_error)
        if self.cfg.metrics_address:
            self.start_metrics()
            if self.metrics_server:
                targets += [('metrics', self.metrics_server.serve_forever), ('snapshot', self.snapshot_loop)]
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def run(self):
        """Main loop: the watchers' items -> ledger and orders -> mirror and operator jails, until stop()."""
        self.start()
        while not self.stop_event.is_set():
            now = self.clock()
            # Wake up at the next end; only ends still ahead: one already past (its unban failed) is retried every
            # tick, and would make this loop spin.
            ends = [end for _, _, end in self.applied.values() if end is not None and end > now]
            order_end = self.next_order_end(now)
            ends += [] if order_end is None else [order_end]
            timeout = max(0.01, min([self.cfg.tick] + [end - now for end in ends]))
            try:
                handler, item = self.queue.get(timeout=timeout)
                while not self.stop_event.is_set():
                    handler(item)
                    handler, item = self.queue.get_nowait()
            except queue.Empty:
                pass
            except Exception as error:  # a bad record or order must not stop the agent
                log(f'error: {error!r}')
            if self.stop_event.is_set():
                break
            try:
                if self.cfg.shared and (self.orders_synced or not self.cfg.operator_jails):
                    self.reconcile()
                    if self.synced and time.monotonic() >= self.next_sync:
                        self.sync_mirrors()
                if self.cfg.operator_jails:
                    self.order_round()
            except Exception as error:
                log(f'error: {error!r}')
        self.shutdown()

    def stop(self):
        self.stop_event.set()

    def shutdown(self):
        self.stop_event.set()
        if self.count_error in agent_log.error_observers:
            agent_log.error_observers.remove(self.count_error)
        if self.metrics_server:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
        self.ledger_watch.interrupt()
        self.order_watch.interrupt()
        self.wake_reporter()
        for thread in self.threads:
            thread.join(timeout=5)
        log('stopped')

    def start_metrics(self):
        """The metrics endpoint; one that cannot listen (the port taken on the node) is logged, and the agent's
        other work goes on without it."""
        snapshot = Fail2banSnapshot(self.f2b, self.metrics, self.cfg.snapshot_seconds)
        pod_log_files = lambda: {('f2b_agent_pod_log_files', (('jail', jail),)): count
                                 for jail, count in self.pod_log_sync.watched.items()}
        where = f'{self.cfg.metrics_address}:{self.cfg.metrics_port}'
        self.snapshot = snapshot
        try:
            self.metrics_server = MetricsServer((self.cfg.metrics_address, self.cfg.metrics_port), snapshot,
                                                self.metrics, pod_log_files)
        except OSError as error:
            log(f'error: metrics: cannot listen on {where}: {error.strerror}; no metrics on this node')
            return
        log(f'metrics on {where}/metrics')

    def snapshot_loop(self):
        """A snapshot every interval, scraped or not: each fail2ban server's totals count from soon after its start
        (Fail2banSnapshot), not from whenever Prometheus first asks; scrapes get the last one."""
        while not self.stop_event.is_set():
            self.snapshot.get()
            self.stop_event.wait(self.cfg.snapshot_seconds)

    def count_error(self, thread):
        self.metrics.inc('f2b_agent_errors_total', kind=ERROR_KINDS.get(thread, 'main'))

    def count_refusal(self, reason):
        self.metrics.inc('f2b_agent_sharing_refused_total', reason=refusal_kind(reason))

    def touch_status(self):
        self.metrics.set('f2b_agent_last_sync_timestamp_seconds', self.clock(), source='api')
        if self.cfg.status_file:
            with open(self.cfg.status_file, 'a'):
                pass
            os.utime(self.cfg.status_file, None)
