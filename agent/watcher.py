"""The agent's watcher thread: LIST + WATCH of the Ban records into the main thread's queue."""

import urllib.parse

from .formats import compact, parse_watch_event
from .kube import ApiError
from .log import log

class Watcher:
    # ------------------------------------------------------------------ watcher thread: LIST + WATCH
    def watcher_loop(self):
        delay = min(0.5, self.cfg.backoff_max)
        while not self.stop_event.is_set():
            try:
                self.list_and_watch()
                delay = min(0.5, self.cfg.backoff_max)
            except Exception as error:  # any error: relist after a pause
                if self.stop_event.is_set():
                    break
                log(f'error: list/watch: {error}; relisting in {delay:g} s')
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.cfg.backoff_max)

    def list_all(self):
        """Every record, LIST_PAGE at a time (a large ledger is never one answer in memory), each kept as only what
        the agent reads of it; and the resourceVersion to watch from."""
        records, token = [], None
        while True:
            query = {'limit': str(self.cfg.list_page), **({'continue': token} if token else {})}
            status, body = self.api.request('GET', f'{self.collection}?{urllib.parse.urlencode(query)}')
            if status != 200:
                raise ApiError(status, body)  # a continue token that expired (410) too: the loop lists again
            records.extend(compact(item) for item in body.get('items') or [])
            token = body['metadata'].get('continue')
            if not token:
                return records, body['metadata']['resourceVersion']

    def list_and_watch(self):
        records, rv = self.list_all()
        self.queue.put(('list', records))
        self.touch_status()
        while not self.stop_event.is_set():
            query = urllib.parse.urlencode({'watch': '1', 'resourceVersion': rv, 'allowWatchBookmarks': 'true',
                                            'timeoutSeconds': str(self.cfg.watch_timeout)})
            conn, response = self.api.open('GET', f'{self.collection}?{query}', timeout=self.cfg.watch_timeout + 30)
            self.watch_conn = conn
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
                        self.queue.put(('event', etype, compact(obj)))
                    self.touch_status()
            finally:
                self.watch_conn = None
                conn.close()
            self.touch_status()  # a watch round that ended normally (timeoutSeconds)
