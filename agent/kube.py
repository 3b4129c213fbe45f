"""The Kubernetes API, over http.client: the only module that talks to it."""

import http.client
import json
import os
import ssl
import urllib.parse

# ---------------------------------------------------------------------------------------------------- I/O edges

class ApiError(Exception):
    def __init__(self, status, body):
        message = body.get('message') if isinstance(body, dict) else None
        super().__init__(f'HTTP {status}' + (f': {message}' if message else ''))
        self.status = status

    @property
    def transient(self):
        return self.status in (401, 408, 409, 429) or self.status >= 500


class Api:
    """The Kubernetes API over http.client; the bearer token is read from its file for every request."""

    def __init__(self, base, token_file, ca_file, timeout=30):
        url = urllib.parse.urlsplit(base)
        self.https, self.host, self.prefix = url.scheme == 'https', url.hostname, url.path.rstrip('/')
        self.port = url.port or (443 if self.https else 80)
        self.token_file, self.timeout = token_file, timeout
        self.context = None
        if self.https:
            self.context = ssl.create_default_context(cafile=ca_file if ca_file and os.path.exists(ca_file) else None)

    def _headers(self):
        headers = {'Accept': 'application/json', 'Content-Type': 'application/json'}
        try:
            with open(self.token_file) as f:
                headers['Authorization'] = 'Bearer ' + f.read().strip()
        except OSError:
            pass  # the API answers 401, which is retried
        return headers

    def open(self, method, path, body=None, timeout=None):
        if self.https:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                               timeout=timeout or self.timeout)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, self.prefix + path, body=data, headers=self._headers())
            conn.raw_sock = conn.sock  # getresponse() may drop conn.sock; shutdown() needs it to end a WATCH
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def request(self, method, path, body=None):
        """(status, parsed JSON body or None)."""
        conn, response = self.open(method, path, body)
        try:
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, (json.loads(data) if data else None)
        except ValueError:
            return response.status, {'message': data[:200].decode(errors='replace')}
