"""LIST + WATCH of one collection (the Ban records, the OperatorBans), for a thread of its own."""

import socket
import urllib.parse

from .formats import RECORD_METADATA, compact, parse_watch_event
from .kube import ApiError
from .log import log


class ListWatch:
    """Hands `deliver` ('list', objects) after every LIST, then ('event', type, object) for every change; lists again
    after a 410 or any error. Each object is kept as only what the agent reads of it (`metadata`: see compact).
    `touch` marks the agent alive: after a LIST, an event, a BOOKMARK or a WATCH round that ended normally."""

    def __init__(self, api, path, cfg, stop_event, deliver, touch, metadata=RECORD_METADATA):
        self.api, self.path, self.cfg, self.stop_event = api, path, cfg, stop_event
        self.deliver, self.touch, self.metadata = deliver, touch, metadata
        self.conn = None

    def loop(self):
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                self.list_and_watch()
                delay = min(0.5, self.cfg.backoff_max)
            except Exception as error:  # any error: relist after a pause
                if self.stop_event.is_set():
                    break
                log(f'error: list/watch {self.path.rsplit("/", 1)[-1]}: {error}; relisting in {delay:g} s')
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.cfg.backoff_max)

    def interrupt(self):
        """Ends the WATCH under way, which otherwise waits for its next event or its timeout."""
        conn = self.conn
        if conn is not None:
            try:
                conn.raw_sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def list_all(self):
        """Every object, LIST_PAGE at a time (a large collection is never one answer in memory), and the
        resourceVersion to watch from."""
        objects, token = [], None
        while True:
            query = {'limit': str(self.cfg.list_page), **({'continue': token} if token else {})}
            status, body = self.api.request('GET', f'{self.path}?{urllib.parse.urlencode(query)}')
            if status != 200:
                raise ApiError(status, body)  # a continue token that expired (410) too: the loop lists again
            objects.extend(compact(item, self.metadata) for item in body.get('items') or [])
            token = body['metadata'].get('continue')
            if not token:
                return objects, body['metadata']['resourceVersion']

    def list_and_watch(self):
        objects, rv = self.list_all()
        self.deliver(('list', objects))
        self.touch()
        while not self.stop_event.is_set():
            query = urllib.parse.urlencode({'watch': '1', 'resourceVersion': rv, 'allowWatchBookmarks': 'true',
                                            'timeoutSeconds': str(self.cfg.watch_timeout)})
            conn, response = self.api.open('GET', f'{self.path}?{query}', timeout=self.cfg.watch_timeout + 30)
            self.conn = conn
            try:
                if response.status == 410:
                    log('watch expired (410), relisting')
                    return
                if response.status != 200:
                    raise ApiError(response.status, None)
                for line in response:
                    if self.stop_event.is_set():
                        return
                    if not line.strip():
                        continue
                    etype, obj = parse_watch_event(line)
                    if etype == 'ERROR':
                        if obj.get('code') == 410:
                            log('watch expired (410), relisting')
                            return
                        raise ApiError(obj.get('code') or 0, obj)
                    rv = obj['metadata'].get('resourceVersion', rv)
                    if etype != 'BOOKMARK':
                        self.deliver(('event', etype, compact(obj, self.metadata)))
                    self.touch()
            finally:
                self.conn = None
                conn.close()
            self.touch()  # a watch round that ended normally (timeoutSeconds)
