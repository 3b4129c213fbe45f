"""The node agent's log: one line per event, on stdout (the pod's log)."""


def _print(message):
    print(f'node-agent: {message}', flush=True)


# Where the messages go: tests replace it to read what the agent said.
sink = _print


def log(message):
    sink(message)
