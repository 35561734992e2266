"""Keeping a RUN's forked process from inheriting another stage's store locks.

The store's locks are ``flock``\\ s on open files; a lock lives as long as any copy of its file
descriptor. When stages run on threads, a RUN forks the runtime's keeper process while another
stage's thread may be holding a store lock: the keeper then holds a copy of that lock until the
RUN ends, and the other stage blocks on its own lock. :class:`ForkGuard` prevents that: every
stage thread holds the guard (shared, reentrant) except while its RUN runs, and an at-fork hook
makes a fork wait until no *other* thread holds it, so no other thread is inside a store
operation at the moment of the fork.

Only root builds run stages on threads (an unprivileged build forks inside store operations,
to enter its user namespace, so it runs its stages one after the other).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ForkGuard:
    """A shared, per-thread reentrant hold that forks wait out (module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holders: dict[int, int] = {}
        self._forking = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the guard (store operations may run)."""
        me = threading.get_ident()
        with self._cond:
            while self._forking and me not in self._holders:
                self._cond.wait()
            self._holders[me] = self._holders.get(me, 0) + 1
        try:
            yield
        finally:
            with self._cond:
                depth = self._holders[me] - 1
                if depth:
                    self._holders[me] = depth
                else:
                    del self._holders[me]
                self._cond.notify_all()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Drop this thread's holds for a while (around a RUN)."""
        me = threading.get_ident()
        with self._cond:
            depth = self._holders.pop(me, 0)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                while self._forking:
                    self._cond.wait()
                if depth:
                    self._holders[me] = depth

    def before_fork(self) -> None:
        """Wait until no other thread holds the guard, and keep new holders out."""
        me = threading.get_ident()
        with self._cond:
            while any(t != me for t in self._holders):
                self._cond.wait()
            self._forking += 1

    def after_fork(self) -> None:
        """Let holders in again (in the parent after a fork)."""
        with self._cond:
            self._forking -= 1
            self._cond.notify_all()


_active: ForkGuard | None = None
_registered = False
_registration = threading.Lock()


def _before() -> None:
    if _active is not None:
        _active.before_fork()


def _after_parent() -> None:
    if _active is not None:
        _active.after_fork()


def _after_child() -> None:
    global _active
    _active = None  # the child is single-threaded: nothing to wait for


@contextmanager
def guarding() -> Iterator[ForkGuard]:
    """Install a guard for the forks of this process while the block runs."""
    global _active, _registered
    with _registration:
        if not _registered:
            os.register_at_fork(
                before=_before, after_in_parent=_after_parent, after_in_child=_after_child
            )
            _registered = True
    guard = ForkGuard()
    _active = guard
    try:
        yield guard
    finally:
        _active = None


__all__ = ["ForkGuard", "guarding"]
