"""The node agent's log: one line per event, on stdout (the pod's log)."""

import threading


def _print(message):
    print(f'node-agent: {message}', flush=True)


# Where the messages go: tests replace it to read what the agent said.
sink = _print

# Called with the name of the thread that logged an error (a line starting "error:"): the metrics count them.
error_observers = []


def log(message):
    sink(message)
    if message.startswith('error:'):
        for observer in list(error_observers):
            observer(threading.current_thread().name)
