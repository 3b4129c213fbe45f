"""A socket server with a thread per connection and a limit on them (the broker's socket, the metrics endpoint)."""

import socketserver
import threading


class BoundedThreadingMixIn(socketserver.ThreadingMixIn):
    """A thread per connection, at most `max_connections` at once: a connection beyond them is closed at once (and
    `refused()` told), so that no client can make the process start threads without end."""

    daemon_threads = True
    max_connections = 8

    def __init__(self, *args, **kwargs):
        self.slots = threading.BoundedSemaphore(self.max_connections)
        super().__init__(*args, **kwargs)

    def refused(self):
        """Called for each connection closed because `max_connections` were open."""

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.refused()
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
