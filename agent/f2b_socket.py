"""fail2ban, through the broker's socket (agent/broker.py): the agent has no access to fail2ban's own."""

import json
import socket


class F2bError(Exception):
    pass


class Fail2ban:
    """The broker, one connection per command; the answers are fail2ban's. `timeout` exceeds the broker's own
    timeout towards fail2ban, so that a slow fail2ban is reported by the broker."""

    def __init__(self, path, timeout=15):
        self.path, self.timeout = path, timeout

    def command(self, *args):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(self.timeout)
            try:
                conn.connect(self.path)
            except OSError as error:
                raise F2bError(f'cannot connect to {self.path}: {error}') from None
            try:
                conn.sendall(json.dumps(list(args)).encode() + b'\n')
                with conn.makefile('rb') as answers:
                    line = answers.readline()
                if not line:
                    raise F2bError(f'{" ".join(args)}: the broker closed the connection')
                reply = json.loads(line)
            except (OSError, ValueError) as error:
                raise F2bError(f'{" ".join(args)}: {error}') from None
        if reply.get('ok') is not True:
            raise F2bError(reply.get('error'))
        return reply.get('result')
