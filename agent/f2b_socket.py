"""fail2ban's socket, through fail2ban's own client (fail2ban.client.csocket): the only module that talks to it."""


class F2bError(Exception):
    pass


class Fail2ban:
    """fail2ban's socket, one connection per command (fail2ban-client's own protocol)."""

    def __init__(self, path, timeout=10):
        self.path, self.timeout = path, timeout

    def command(self, *args):
        from fail2ban.client.csocket import CSocket
        try:
            client = CSocket(self.path, timeout=self.timeout)
        except OSError as error:
            raise F2bError(f'cannot connect to {self.path}: {error}') from None
        try:
            code, result = client.send(list(args))
        except Exception as error:
            raise F2bError(f'{" ".join(args)}: {error}') from None
        finally:
            client.close()
        if code != 0:
            raise F2bError(f'{" ".join(args)}: {result!r}')
        return result
