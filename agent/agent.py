"""The node agent: the container beside fail2ban on every node. Today it shares bans between the nodes (the contract
is docs/ban-sharing.md); pod-log discovery and metrics are to run in it too.

Three threads, one job each:
  publisher  outbox event files -> Ban records (POST; 409 -> GET, PUT if later; unban -> DELETE), in order, with
             retries; bans restored from fail2ban's database are not published again. Once the first LIST is in
             and then every REPUBLISH_SECONDS: local bans against the ledger (publish what it lacks, unban what an
             administrator deleted meanwhile), own records ended + GRACE.
  watcher    LIST + WATCH of the Ban records -> a queue (relist on 410 or any error); touches STATUS_FILE.
  main       the queue -> the ledger (name -> record); applies other nodes' valid records to the mirror jails and
             unbans them at their end or deletion; a deletion before the end made by someone else also unbans the
             origin jail here (a cluster-wide unban). Every MIRROR_SYNC_SECONDS: the mirror jails against the ledger.
STATE_FILE remembers this node's records seen in the ledger, so that a restarted agent tells a record deleted
while it was down (a cluster-wide unban) from a ban it never published.
The decisions are plain functions (records, decisions, formats); the API (kube), fail2ban's socket (f2b_socket) and
STATE_FILE (state) are the only I/O. Standard library only, besides fail2ban's own socket client.
"""

import os
import queue
import socket
import threading
import time

from .decisions import RateLimiter, Sightings
from .f2b_socket import Fail2ban
from .kube import Api
from .log import log
from .mirrors import MirrorSync
from .publisher import Publisher
from .records import RecordChecks
from .state import PublishedState
from .watcher import Watcher

class NodeAgent(MirrorSync, Watcher, Publisher):
    def __init__(self, config, api=None, f2b=None, clock=time.time):
        self.cfg, self.clock = config, clock
        self.api = api or Api(config.api, config.token_file, config.ca_file)
        self.f2b = f2b or Fail2ban(config.socket_path)
        self.collection = f'/apis/{config.group}/v1/namespaces/{config.namespace}/bans'
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
        self.watch_conn = None
        self.next_sync = 0.0
        self.stray_mirror_bans = Sightings(config.settle_seconds)
        self.deleted_local_bans = Sightings(config.settle_seconds)
        self.threads = []

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        os.makedirs(self.cfg.outbox, exist_ok=True)
        for target in (self.watcher_loop, self.publisher_loop):
            thread = threading.Thread(target=target, name=target.__name__, daemon=True)
            thread.start()
            self.threads.append(thread)

    def run(self):
        """Main loop: the watcher's items -> ledger -> mirror jails, until stop()."""
        self.start()
        while not self.stop_event.is_set():
            now = self.clock()
            ends = [end - now for _, _, end in self.applied.values() if end is not None and end > now]
            timeout = max(0.01, min([self.cfg.tick] + ends))  # wake up at the next end
            try:
                item = self.queue.get(timeout=timeout)
                while not self.stop_event.is_set():
                    self.handle(item)
                    item = self.queue.get_nowait()
            except queue.Empty:
                pass
            except Exception as error:  # a bad record must not stop the agent
                log(f'error: {error!r}')
            if self.stop_event.is_set():
                break
            try:
                self.reconcile()
                if self.synced and time.monotonic() >= self.next_sync:
                    self.sync_mirrors()
            except Exception as error:
                log(f'error: {error!r}')
        self.shutdown()

    def stop(self):
        self.stop_event.set()

    def shutdown(self):
        self.stop_event.set()
        conn = self.watch_conn
        if conn is not None:
            try:
                conn.raw_sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(timeout=5)
        log('stopped')

    def touch_status(self):
        if self.cfg.status_file:
            with open(self.cfg.status_file, 'a'):
                pass
            os.utime(self.cfg.status_file, None)
