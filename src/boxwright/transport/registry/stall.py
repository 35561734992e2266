"""Stall detection by progress: a transfer must move a few bytes in every window of time.

A per-read socket timeout alone does not bound a transfer: a registry that sends one byte
every few seconds, or stops after the answer's head, keeps every single read under the
timeout while the transfer never ends. :class:`StallPolicy` says what counts as moving — at
least ``min_bytes`` every ``seconds`` (default 1 KiB in 10 s, about 100 bytes a second) —
and a :class:`ProgressWatch` applies it to one request: the bytes received (an answer's
head and body) or sent (an upload's body) are counted, and the window starts again each time
``min_bytes`` have moved. A window that ends with fewer raises :class:`StallFailure`.

The wire's connections (:mod:`.watched`) check it on every socket read and write, with each
wait bounded by what is left of the window.
Pure bookkeeping, no I/O; ``clock`` is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from boxwright.transport.registry.failures import StallFailure

DEFAULT_STALL_SECONDS: Final = 10.0
DEFAULT_STALL_BYTES: Final = 1024


@dataclass(frozen=True)
class StallPolicy:
    """At least ``min_bytes`` must move in every ``seconds``, or the transfer has stalled.

    A transfer that keeps moving, however slowly above that floor, is never cut; one that
    stops is cut after ``seconds``. ``min_bytes`` 1 means "no byte for ``seconds``".
    """

    seconds: float = DEFAULT_STALL_SECONDS
    min_bytes: int = DEFAULT_STALL_BYTES
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError("StallPolicy.seconds must be positive")
        if self.min_bytes < 1:
            raise ValueError("StallPolicy.min_bytes must be at least 1")

    def watch(self, direction: str = "received") -> ProgressWatch:
        """A fresh watch whose first window starts now."""
        return ProgressWatch(self, direction)


class ProgressWatch:
    """The progress of one transfer under a :class:`StallPolicy` (see the module doc)."""

    def __init__(self, policy: StallPolicy, direction: str = "received") -> None:
        self.policy = policy
        self.direction = direction
        self._start = policy.clock()
        self._moved = 0
        self.total = 0
        """Every byte counted so far."""

    def remaining(self) -> float:
        """Seconds left in the current window (0 or less: it has ended)."""
        return self.policy.seconds - (self.policy.clock() - self._start)

    def failure(self) -> StallFailure:
        """The failure to raise for the current window."""
        policy = self.policy
        return StallFailure(policy.seconds, self._moved, policy.min_bytes, self.direction)

    def check(self) -> None:
        """Raise :class:`StallFailure` when the window ended before enough moved."""
        if self.remaining() <= 0:
            raise self.failure()

    def add(self, count: int) -> None:
        """Count ``count`` bytes that just moved; raises when they came after the window
        (a reader whose waits were not bounded by :meth:`remaining`)."""
        self.check()
        self.record(count)

    def record(self, count: int) -> None:
        """Count ``count`` bytes that moved within the window (a wait bounded by
        :meth:`remaining` delivered them)."""
        self._moved += count
        self.total += count
        if self._moved >= self.policy.min_bytes:
            self._start = self.policy.clock()
            self._moved = 0


__all__ = [
    "DEFAULT_STALL_BYTES",
    "DEFAULT_STALL_SECONDS",
    "ProgressWatch",
    "StallFailure",
    "StallPolicy",
]
