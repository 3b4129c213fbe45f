"""STATE_FILE: this node's records as last seen in the ledger, kept across restarts of the agent."""

from .log import log

import json
import os

# how long STATE_FILE keeps a record deleted by someone else (after its end it goes anyway): a ban fail2ban
# restores from its database within this time is still recognized as cluster-wide unbanned
DELETED_RETENTION = 86400


class PublishedState:
    """This node's records as last seen in the ledger: name -> {'bannedAt': epoch, 'end': epoch or None
    (permanent), 'deleted': epoch, once deleted by someone else}. Without it a agent that was down cannot tell a
    record an administrator deleted meanwhile (a cluster-wide unban: the local ban must go too) from a ban it never
    published (publish it). Entries come only from the ledger, never from a write's answer, so an entry whose
    record is missing from the ledger always means a deletion.
    Kept in `path` (JSON, replaced atomically: a crash leaves the old file or the new one) when given, else in
    memory only; a missing or unreadable file starts empty. Not thread-safe: the agent holds its lock."""

    def __init__(self, path=None):
        self.path, self.records, self.dirty, self.save_error = path, {}, False, None
        if path:
            self.records = self._load()

    def _load(self):
        try:
            with open(self.path) as f:
                data = json.load(f)
        except FileNotFoundError:
            log(f'state file {self.path} does not exist yet: starting empty')
            return {}
        except (OSError, ValueError) as error:
            log(f'error: state file {self.path} is unreadable ({error}): starting empty')
            return {}
        records = data.get('records') if isinstance(data, dict) else None
        if not isinstance(records, dict):
            log(f'error: state file {self.path} has no records: starting empty')
            return {}
        valid = {name: entry for name, entry in records.items() if self._valid(entry)}
        if len(valid) != len(records):
            log(f'error: state file {self.path}: ignored {len(records) - len(valid)} malformed entries')
        log(f'state file {self.path}: records of this node: {len(valid)}')
        return valid

    @staticmethod
    def _valid(entry):
        def number(value, none_ok=False):
            return (value is None and none_ok) or (isinstance(value, int) and not isinstance(value, bool))
        return isinstance(entry, dict) and number(entry.get('bannedAt')) and number(entry.get('end'), True) \
            and number(entry.get('deleted'), True)

    def get(self, name):
        return self.records.get(name)

    def snapshot(self):
        return {name: dict(entry) for name, entry in self.records.items()}

    def remember(self, ban):
        """`ban` (a Ban of this node) is in the ledger."""
        entry = {'bannedAt': ban.banned_at, 'end': ban.end}
        if self.records.get(ban.name) != entry:
            self.records[ban.name] = entry
            self.dirty = True

    def mark_deleted(self, name, now):
        """Gone from the ledger, by someone else's hand, and the local ban may still come back (fail2ban down or
        still restoring its database): kept for DELETED_RETENTION."""
        entry = self.records.get(name)
        if entry is not None and entry.get('deleted') is None:
            entry['deleted'] = int(now)
            self.dirty = True

    def forget(self, name):
        if self.records.pop(name, None) is not None:
            self.dirty = True

    def prune(self, now, grace):
        """Drops the entries of records that have ended (their owner deletes them), and deletions kept long enough."""
        for name, entry in list(self.records.items()):
            ended = entry['end'] is not None and entry['end'] + grace <= now
            if ended or (entry.get('deleted') is not None and entry['deleted'] + DELETED_RETENTION <= now):
                self.forget(name)

    def save(self):
        """Writes the file if anything changed (tmp + rename); an error is logged once, the state stays in memory."""
        if not self.dirty or not self.path:
            self.dirty = False
            return
        tmp = f'{self.path}.tmp'
        try:
            with open(tmp, 'w') as f:
                json.dump({'version': 1, 'records': self.records}, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self.dirty, self.save_error = False, None
        except OSError as error:
            if str(error) != self.save_error:
                self.save_error = str(error)
                log(f'error: state file {self.path} not written: {error}')
