"""This node's Fail2banNode report (docs/operator-bans.md): which orders it applied, and what its jails hold. The
report's content is made by plain functions; Reporter (a part of the agent) reads and writes the object, on a thread
of its own, so that the API's answers never hold up fail2ban's commands."""

import http.client
import threading
import time

from .f2b_socket import F2bError
from .formats import banip_entries, canonical_entry
from .kube import ApiError
from .log import log
from .records import format_time

MAX_LISTED = 1000  # addresses per jail in a report: the object stays far below etcd's limit
MAX_DETAIL = 512  # characters of a refusal's reason or of the error, as the CRD allows


def jail_listing(banned):
    """`get JAIL banip` -> {'count', 'addresses'}: the addresses in canonical form, in numeric order (IPv4 first),
    at most MAX_LISTED; entries that are not addresses are left out (and not counted)."""
    # An entry that is not one address would make every write of the report fail (the CRD's items are addresses).
    addresses = sorted({address for address in map(canonical_entry, banip_entries(banned)) if address is not None},
                       key=lambda address: (address.version, int(address)))
    return {'count': len(addresses), 'addresses': [str(address) for address in addresses[:MAX_LISTED]]}


def report_status(node, orders, jails, error, now):
    """The report's `status`: `orders` name -> {generation, result, detail}, `jails` name -> jail_listing."""
    status = {'node': node, 'reportedAt': format_time(int(now)),
              'orders': {name: dict(entry, detail=entry['detail'][:MAX_DETAIL]) if 'detail' in entry else entry
                         for name, entry in sorted(orders.items())},
              'jails': dict(sorted(jails.items()))}
    if error:
        status['error'] = error[:MAX_DETAIL]
    return status


def reported_jails(operator_jails, shared):
    """Every jail the agent may list: origin, operator and mirror jails."""
    return sorted(set(operator_jails) | set(operator_jails.values()) | set(shared)
                  | {jail.mirror for jail in shared.values()})


class Reporter:
    """Writes self.report_orders (set by the main thread through report_results) with the jails' lists: at once
    after a change of results, but at most every report_min_seconds; when only the lists changed, at most every
    list_report_seconds; every heartbeat_seconds anyway. POST the first time, then PUT with the resourceVersion of
    the last answer (409: GET, PUT again)."""

    def init_reporter(self):
        self.report_cond = threading.Condition()
        self.report_orders, self.report_error, self.report_due = {}, None, False
        self.report_meta = None  # metadata of this node's object as last read or written; None: there is none
        self.nodes_path = f'{self.api_prefix}/fail2bannodes'
        self.report_problem = None

    def read_own_report(self):
        """This node's Fail2banNode, None if there is none yet, False if stopped first. Retried until it answers:
        without it a restarted agent would apply every order again."""
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                status, body = self.api.request('GET', f'{self.nodes_path}/{self.cfg.node}')
                if status == 200 and isinstance(body, dict) and isinstance(body.get('metadata'), dict):
                    self.report_meta = body['metadata']
                    return body
                if status == 404:
                    return None
                problem = ApiError(status, body)
            except (OSError, http.client.HTTPException) as error:
                problem = error
            log(f'error: reading this node\'s report: {problem}; retrying in {delay:g} s')
            self.stop_event.wait(delay)
            delay = min(delay * 2, self.cfg.backoff_max)
        return False

    def report_results(self, orders, error):
        """From the main thread: the orders' results changed (or the error that keeps them incomplete)."""
        with self.report_cond:
            self.report_orders, self.report_error, self.report_due = orders, error, True
            self.report_cond.notify()

    def wake_reporter(self):
        with self.report_cond:
            self.report_cond.notify_all()

    def reporter_loop(self):
        """Writes the report when due (see Reporter). An unexpected error is logged and the turn tried again after a
        pause: the watchers keep the liveness file fresh, so a reporter that died would go unnoticed."""
        last_write, next_listing, retry_at, written = None, 0.0, 0.0, None
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                now = time.monotonic()
                with self.report_cond:
                    due = self.report_due
                write, listing = False, None
                if not self.orders_synced or now < retry_at:
                    pass  # the first report waits for the orders, so that it never shows fewer than the last one
                elif last_write is None or now - last_write >= self.cfg.heartbeat_seconds:
                    write = True
                elif due and now - last_write >= self.cfg.report_min_seconds:
                    write = True
                elif now >= next_listing:
                    listing = self.list_jails()
                    next_listing = now + self.cfg.list_report_seconds
                    write = listing != written
                if write:
                    with self.report_cond:
                        orders, error, self.report_due = self.report_orders, self.report_error, False
                    listing = listing or self.list_jails()
                    jails, list_error = listing
                    status = report_status(self.cfg.node, orders, jails, list_error or error, self.clock())
                    if self.write_report(status):
                        last_write, written = time.monotonic(), listing
                        next_listing = last_write + self.cfg.list_report_seconds
                        delay = min(0.5, self.cfg.backoff_max)
                    else:
                        with self.report_cond:
                            self.report_due = self.report_due or due
                        retry_at = time.monotonic() + delay
                        delay = min(delay * 2, self.cfg.backoff_max)
                now = time.monotonic()
                deadlines = [next_listing, retry_at]
                if last_write is not None:
                    deadlines.append(last_write + self.cfg.heartbeat_seconds)
                    if self.report_due:
                        deadlines.append(last_write + self.cfg.report_min_seconds)
                # shutdown() sets stop_event, then notifies under this lock: no wake-up is lost
                with self.report_cond:
                    if not self.stop_event.is_set():
                        self.report_cond.wait(max(0.01, min(deadlines) - now) if self.orders_synced else None)
            except Exception as error:
                log(f'error: reporter: {error!r}; trying again in {delay:g} s')
                with self.report_cond:
                    self.report_due = True  # what the turn took from report_results may not have been written
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.cfg.backoff_max)

    def list_jails(self):
        """({jail: jail_listing}, the error of a jail fail2ban did not list, or None)."""
        jails, error = {}, None
        for jail in reported_jails(self.cfg.operator_jails, self.cfg.shared):
            try:
                jails[jail] = jail_listing(self.f2b.command('get', jail, 'banip'))
            except F2bError as problem:
                error = f'{jail} not listed: {problem}'
        return jails, error

    def write_report(self, status):
        """True once written; an error is logged (once while it lasts) and the write left to the next turn."""
        try:
            self.put_report(status)
        except (ApiError, OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as error:
            if str(error) != self.report_problem:
                self.report_problem = str(error)
                log(f'error: writing this node\'s report: {error}')
            return False
        if self.report_problem is not None:
            log('report written again')
        self.report_problem = None
        return True

    def put_report(self, status):
        path = f'{self.nodes_path}/{self.cfg.node}'
        for _ in range(5):
            fresh = {'name': self.cfg.node, 'namespace': self.cfg.namespace}
            body = {'apiVersion': f'{self.cfg.group}/v1', 'kind': 'Fail2banNode',
                    'metadata': self.report_meta or fresh, 'status': status}
            if self.report_meta is None:
                code, answer = self.api.request('POST', self.nodes_path, body)
            else:
                code, answer = self.api.request('PUT', path, body)
            if code in (200, 201):
                self.report_meta = answer['metadata']
                return
            if code == 404:  # deleted meanwhile (by an administrator): create it again
                self.report_meta = None
                continue
            if code != 409:
                raise ApiError(code, answer)
            code, answer = self.api.request('GET', path)  # changed meanwhile, or created by an earlier POST
            if code == 200:
                self.report_meta = answer['metadata']
            elif code == 404:
                self.report_meta = None
            else:
                raise ApiError(code, answer)
        raise ApiError(409, {'message': f'the report {self.cfg.node} keeps changing'})
