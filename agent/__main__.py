"""`python3 -m agent`: the node agent's entry point, configured by the environment."""

import os
import signal
import sys

from .agent import NodeAgent
from .config import config_from_env
from .log import log

def main():
    try:
        config = config_from_env(os.environ)
    except (ValueError, KeyError) as error:
        log(f'error: configuration: {error}')
        return 2
    log(f'started on {config.node}: jails {", ".join(sorted(config.shared)) or "(none)"}, '
        f'operator jails {", ".join(sorted(config.operator_jails.values())) or "(none)"}, '
        f'pod-log jails {", ".join(sorted(config.pod_logs.jails)) or "(none)"}, '
        f'{len(config.never_ban)} never-ban ranges, {config.rate_limit} per node per minute')
    agent = NodeAgent(config)  # reads STATE_FILE, and logs what it found
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    signal.signal(signal.SIGINT, lambda *_: agent.stop())
    if not config.state_file:
        log('warning: STATE_FILE is not set: a record deleted while this agent is down will be published again')
    if not config.never_ban:
        log('warning: NEVER_BAN is empty')
    if config.api.startswith('https:') and not os.path.exists(config.ca_file):
        log(f'warning: CA_FILE {config.ca_file} does not exist: the system CAs are used')
    agent.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
