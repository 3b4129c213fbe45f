"""The node agent's settings, from the container's environment (the DaemonSet sets them)."""

import dataclasses
import ipaddress
import json

from .metrics import SNAPSHOT_SECONDS
from .pod_logs import PodLogJails
from .records import NAME_RE, SharedJail, _integer, address_name, record_name

# fail2ban answers its socket before it has built its jails, and restores a jail's bans from its database only
# after that: the mirrors are compared with the ledger this often, not just once after the LIST
MIRROR_SYNC_SECONDS = 1.0
# fail2ban lists a ban as soon as it holds it and runs the ban's actions right after; an unban in between finds
# nothing to delete in nftables (fail2ban 1.0.2 skips actionunban until the action has banned something) and the
# element is added anyway: a firewall entry fail2ban no longer knows. So an address unbanned because of what
# fail2ban lists (not because of a record's end or deletion) must still be listed at least this much later.
SETTLE_SECONDS = 1.0
# the Fail2banNode report (docs/operator-bans.md): written at most this often after an order's result changed, so
# that orders written at once make one write; at most every LIST_REPORT_SECONDS for changes of the jails' lists
# alone; every HEARTBEAT_SECONDS anyway, so that a silent node shows
REPORT_MIN_SECONDS = 0.2
LIST_REPORT_SECONDS = 10.0
HEARTBEAT_SECONDS = 60.0
# ---------------------------------------------------------------------------------------------------- configuration

@dataclasses.dataclass
class Config:
    node: str
    namespace: str = 'fail2ban'
    group: str = 'fail2ban.homelab.internal'
    api: str = ''
    token_file: str = '/var/run/secrets/node-agent/token'
    ca_file: str = '/var/run/secrets/node-agent/ca.crt'
    socket_path: str = '/var/run/node-agent/broker.sock'  # the broker's (agent/broker.py), not fail2ban's
    outbox: str = '/var/run/node-agent/outbox'
    shared: dict = dataclasses.field(default_factory=dict)  # origin jail -> SharedJail
    operator_jails: dict = dataclasses.field(default_factory=dict)  # jail -> its operator jail; {}: no operator bans
    never_ban: list = dataclasses.field(default_factory=list)  # ip_network
    pod_logs: PodLogJails = dataclasses.field(default_factory=lambda: PodLogJails('', {}))  # no jails: off
    metrics_address: str = None  # None: no metrics endpoint
    metrics_port: int = 9191
    snapshot_seconds: float = SNAPSHOT_SECONDS
    rate_limit: int = 60
    max_records_per_node: int = 5000  # active records of one origin node applied here, at most
    list_page: int = 500  # records per LIST request
    republish_seconds: float = 60.0
    status_file: str = None
    state_file: str = None  # None: the state is kept in memory only
    grace_seconds: float = 60.0  # own records are deleted this long after their end
    tick: float = 0.5  # main loop: at least this often (and at each applied end)
    mirror_sync_seconds: float = MIRROR_SYNC_SECONDS
    settle_seconds: float = SETTLE_SECONDS
    outbox_poll: float = 0.05  # a listdir of a memory-backed directory: cheap, and an unban leaves within 50 ms
    watch_timeout: int = 60  # timeoutSeconds of one WATCH round
    backoff_max: float = 30.0
    report_min_seconds: float = REPORT_MIN_SECONDS
    list_report_seconds: float = LIST_REPORT_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS


def parse_shared_jails(text):
    """SHARED_JAILS: {"sshd": {"mirror": "sshd-cluster", "maxBanTime": 86400}}."""
    data = json.loads(text or '{}')
    if not isinstance(data, dict):
        raise ValueError('SHARED_JAILS is not a JSON object')
    shared = {}
    for jail, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('mirror'), str) or not entry['mirror']:
            raise ValueError(f'SHARED_JAILS[{jail!r}] has no mirror')
        record_name(jail, '192.0.2.1', 'node')  # the jail must make valid object names
        shared[jail] = SharedJail(entry['mirror'], _integer(entry.get('maxBanTime', -1), 'maxBanTime'))
    return shared


def parse_operator_jails(text):
    """OPERATOR_JAILS: {"sshd": "sshd-operator"}."""
    data = json.loads(text or '{}')
    if not isinstance(data, dict):
        raise ValueError('OPERATOR_JAILS is not a JSON object')
    for jail, operator_jail in data.items():
        if not isinstance(operator_jail, str) or not operator_jail or operator_jail == jail:
            raise ValueError(f'OPERATOR_JAILS[{jail!r}] is not another jail')
        if not NAME_RE.match(address_name(jail, '192.0.2.1')):
            raise ValueError(f'OPERATOR_JAILS: jail {jail!r} cannot start an OperatorBan name')
    return dict(data)


def config_from_env(env):
    host, port = env.get('KUBERNETES_SERVICE_HOST', ''), env.get('KUBERNETES_SERVICE_PORT', '443')
    default_api = f'https://[{host}]:{port}' if ':' in host else f'https://{host}:{port}'
    if not env.get('NODE_NAME'):
        raise ValueError('NODE_NAME is not set')
    return Config(
        node=env['NODE_NAME'], namespace=env.get('NAMESPACE', 'fail2ban'),
        group=env.get('BAN_GROUP', 'fail2ban.homelab.internal'), api=env.get('KUBERNETES_API') or default_api,
        token_file=env.get('TOKEN_FILE', Config.token_file), ca_file=env.get('CA_FILE', Config.ca_file),
        socket_path=env.get('BROKER_SOCKET', Config.socket_path), outbox=env.get('OUTBOX', Config.outbox),
        shared=parse_shared_jails(env.get('SHARED_JAILS', '{}')),
        operator_jails=parse_operator_jails(env.get('OPERATOR_JAILS', '{}')),
        pod_logs=PodLogJails.parse(env.get('POD_LOGS', '')),
        metrics_address=env.get('METRICS_ADDRESS') or None, metrics_port=int(env.get('METRICS_PORT', '9191')),
        snapshot_seconds=float(env.get('METRICS_SNAPSHOT_SECONDS', str(SNAPSHOT_SECONDS))),
        never_ban=[ipaddress.ip_network(n, strict=False) for n in env.get('NEVER_BAN', '').split()],
        rate_limit=int(env.get('RATE_LIMIT', '60')), republish_seconds=float(env.get('REPUBLISH_SECONDS', '60')),
        max_records_per_node=int(env.get('MAX_RECORDS_PER_NODE', '5000')),
        status_file=env.get('STATUS_FILE') or None, state_file=env.get('STATE_FILE') or None)
