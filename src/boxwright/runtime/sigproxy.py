"""The signals a foreground run passes on to its container, as podman's ``--sig-proxy``.

One set serves every place that forwards: the native runner's caller and keeper, ``exec``,
a run whose runner works in a forked child, and an attached client (``run`` without
``--rm``, ``attach``, ``start -a``). podman forwards every signal it can catch but SIGCHLD,
SIGPIPE and SIGURG; boxwright forwards the ones a person or a supervisor sends to end,
reload or resume a program. SIGWINCH is not among them: it resizes the container's terminal
instead.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: Signals the caller passes on to the container.
FORWARDED_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
)

#: A signal handler: the signal number and the interrupted frame.
Handler = Callable[[int, Any], None]


@contextlib.contextmanager
def handling(handlers: Mapping[int, Handler]) -> Iterator[None]:
    """Install ``handlers`` (signal → handler) while the block runs and put the previous
    ones back after it; in any thread but the main one (the only one Python lets set a
    handler) nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


__all__ = ["FORWARDED_SIGNALS", "Handler", "handling"]
