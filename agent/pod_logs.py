"""Pod-log jails (README: "Protecting apps behind Traefik"): each jail's log files kept equal to the container logs of
its pods on this node.

fail2ban reads a jail's logpath glob only when it starts, but pods come and go: new pods, restarted containers
(`1.log`), rescheduled pods (a new directory), deleted ones, and fail2ban restarting with no file at all. Every
SCAN_SECONDS the agent lists the kubelet's directories (names only: it reads no log) and adds or removes files through
the broker (`set JAIL addlogpath PATH head`, `set JAIL dellogpath PATH`). `head`: fail2ban's database keeps how far it
read a file, so a file added again after a restart is read on from there, and a new pod's file from its start.
Rotation needs nothing: fail2ban follows the file that takes the name (what containerd writes to the old file between
the kubelet's rename and its reopening, a moment, is not read). The broker lets the agent touch only paths that
`PodLogJails.allows` accepts, and checks `refusal` again before an addlogpath.
"""

import dataclasses
import json
import os
import re
import stat

from .f2b_socket import F2bError
from .log import log

SCAN_SECONDS = 1.0

# The kubelet's layout: <dir>/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log. A rotated file
# (0.log.20261206-100000, later .gz) is not read: it holds what fail2ban read before the rename.
_UID = r'[0-9a-f][0-9a-f-]{0,63}'
_LOG_FILE = re.compile(r'(?:0|[1-9][0-9]{0,5})\.log')
_DNS_LABEL = re.compile(r'[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?')


@dataclasses.dataclass(frozen=True)
class PodLogJail:
    namespace: str
    pod: str  # a pattern of the workload's pod names, without anchors (src/features/pod-logs/pod-names.ts)
    container: str


class PodLogJails:
    """POD_LOGS: {"dir": "/var/log/host/pods", "jails": {JAIL: {"namespace": …, "pod": …, "container": …}}}."""

    def __init__(self, directory, jails):
        self.directory, self.jails = directory, jails
        self.pods = {jail: re.compile(spec.pod) for jail, spec in jails.items()}
        self.rules = {jail: re.compile(
            f'{re.escape(directory)}/{re.escape(spec.namespace)}_(?:{spec.pod})_{_UID}/{re.escape(spec.container)}/'
            f'{_LOG_FILE.pattern}') for jail, spec in jails.items()}

    @classmethod
    def parse(cls, text):
        if not text:
            return cls('', {})
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError('POD_LOGS is not a JSON object')
        directory, jails = data.get('dir'), data.get('jails')
        if not isinstance(directory, str) or not directory.startswith('/') or '..' in directory.split('/'):
            raise ValueError('POD_LOGS: dir is not an absolute path')
        if not isinstance(jails, dict):
            raise ValueError('POD_LOGS: jails is not a JSON object')
        parsed = {}
        for jail, spec in jails.items():
            if not isinstance(spec, dict) or not all(isinstance(spec.get(key), str) for key in ('namespace', 'pod', 'container')):
                raise ValueError(f'POD_LOGS: jail {jail!r} lacks namespace, pod or container')
            if not _DNS_LABEL.fullmatch(spec['namespace']) or not _DNS_LABEL.fullmatch(spec['container']):
                raise ValueError(f'POD_LOGS: jail {jail!r} has a namespace or container that is no DNS label')
            try:
                re.compile(spec['pod'])
            except re.error as error:
                raise ValueError(f'POD_LOGS: jail {jail!r}: pod pattern: {error}') from None
            parsed[jail] = PodLogJail(spec['namespace'], spec['pod'], spec['container'])
        return cls(directory.rstrip('/'), parsed)

    def allows(self, jail, path):
        """Whether `path` is a log file of the jail's pods (the broker's check)."""
        rule = self.rules.get(jail)
        return rule is not None and rule.fullmatch(path) is not None

    def refusal(self, path):
        """Why fail2ban, which reads as root, must not read `path` although the rule allows it, or None: only the
        kubelet's directories and containerd's regular files, no symlink (to a file elsewhere) and no FIFO (which
        would block fail2ban's command thread on open). Only root writes there; this guards against a pod with a
        writable hostPath on /var/log."""
        relative = path[len(self.directory) + 1:].split('/')
        for depth in range(1, len(relative) + 1):
            part = f'{self.directory}/{"/".join(relative[:depth])}'
            try:
                mode = os.lstat(part).st_mode
            except OSError as error:
                return f'{part}: {error.strerror}'
            if not (stat.S_ISREG(mode) if depth == len(relative) else stat.S_ISDIR(mode)):
                return f'{part} is not a plain {"file" if depth == len(relative) else "directory"}'
        return None

    def files(self, errors=None):
        """{jail: set of paths} of the log files on this node; a missing directory is a node without pods yet. A
        pod's directory that cannot be read is skipped, and why is added to `errors`."""
        found = {jail: set() for jail in self.jails}
        try:
            entries = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return found
        for entry in entries:
            parts = entry.split('_')
            if len(parts) != 3:
                continue
            namespace, pod, _ = parts
            for jail, spec in self.jails.items():
                if spec.namespace != namespace or not self.pods[jail].fullmatch(pod):
                    continue
                folder = f'{self.directory}/{entry}/{spec.container}'
                try:
                    names = os.listdir(folder)
                except (FileNotFoundError, NotADirectoryError):  # another container, or the pod just went
                    continue
                except OSError as error:
                    if errors is not None:
                        errors.add(f'cannot list {folder}: {error.strerror}')
                    continue
                paths = [f'{folder}/{name}' for name in names if _LOG_FILE.fullmatch(name)]
                found[jail].update(path for path in paths if self.allows(jail, path) and self.refusal(path) is None)
        return found


class PodLogSync:
    """Keeps fail2ban's log files of the pod-log jails equal to `jails.files()`, every `scan_seconds`."""

    def __init__(self, f2b, jails, stop_event, scan_seconds=SCAN_SECONDS):
        self.f2b, self.jails, self.stop_event, self.scan_seconds = f2b, jails, stop_event, scan_seconds
        self.watched = {jail: 0 for jail in jails.jails}  # pod log files each jail reads, after the last round
        self.errors = set()  # the last round's, each logged once while it lasts

    def sync(self):
        """One round; returns the errors it met (each command is tried on its own: one gone file stops nothing)."""
        errors = set()
        try:
            wanted = self.jails.files(errors)
        except OSError as error:
            return {f'cannot list {self.jails.directory}: {error}'}
        for jail, files in wanted.items():
            try:
                current = set(self.f2b.command('get', jail, 'logpath') or [])
            except F2bError as error:  # fail2ban is starting or stopping: the next round adds everything
                errors.add(str(error))
                continue
            # Only what the rule covers: a file someone added by hand outside it stays, and the broker would refuse it.
            ours = {path for path in current if self.jails.allows(jail, path)}
            for verb, paths in (('addlogpath', sorted(files - ours)), ('dellogpath', sorted(ours - files))):
                for path in paths:
                    try:
                        self.f2b.command('set', jail, verb, path, *(['head'] if verb == 'addlogpath' else []))
                    except F2bError as error:  # e.g. the pod was deleted since the listing: gone next round
                        errors.add(str(error))
                        continue
                    log(f'pod logs: {jail} {"reads" if verb == "addlogpath" else "no longer reads"} {path}')
                    (ours.add if verb == 'addlogpath' else ours.discard)(path)
            self.watched[jail] = len(ours)
        return errors

    def loop(self):
        while not self.stop_event.is_set():
            try:
                errors = self.sync()
            except Exception as error:  # a bug must not end the thread: the jails would silently read nothing
                errors = {f'{error!r}'}
            for error in sorted(errors - self.errors):
                log(f'error: pod logs: {error}')
            if self.errors and not errors:
                log('pod logs: in sync again')
            self.errors = errors
            self.stop_event.wait(self.scan_seconds)
