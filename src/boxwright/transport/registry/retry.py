"""When and how long to wait before a registry request is tried again.

:class:`RetryPolicy` is pure policy, no I/O: it says how many attempts a request gets, which answers
are worth another try (429 and the transient 5xx statuses) and how long to wait: exponential
backoff with jitter, a fixed delay (skopeo's ``--retry-delay``), or what the registry asked
for in ``Retry-After`` (seconds or an HTTP date), capped so that a registry cannot park a
copy for an hour. :meth:`RetryPolicy.from_options` maps skopeo's ``--retry-times N`` (N
retries: N + 1 attempts) and ``--retry-delay`` onto it. :class:`Retrying` is the layer of the
session's chain (see :mod:`.wire`) that applies it to every request.
"""

from __future__ import annotations

import email.utils
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from boxwright._numbers import ascii_int
from boxwright.errors import RegistryError
from boxwright.transport.registry.failures import NetworkFailure, network_error

if TYPE_CHECKING:
    from boxwright.transport.registry.wire import Answer, Request, Transport

DEFAULT_RETRY_TIMES: Final = 3
"""Retries after the first try when none are configured: with the default stall window
(:mod:`.stall`) a pull that stalls gives up after about 42 s in all."""

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses that say "not now" rather than "no": worth another attempt."""

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods a request may be sent again with after a lost connection (RFC 9110 §9.2.2).

A PUT whose body was streamed from a file cannot be sent again from the same stream: the
uploader restarts the whole upload instead (``uploads.py``).
"""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``None`` when the header is missing or unreadable; never negative.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        seconds = ascii_int(text)  # str.isdigit() is also true for "²"
        return None if seconds is None else float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    ``attempts`` is the total number of tries (1 = no retry; the default 4 is 3 retries, see
    ``docs/transports.md``). The n-th wait (n from 0) is ``fixed_delay`` when set, else
    ``base_delay * 2**n`` scaled by a random factor in [0.5, 1.0), capped at ``max_delay``;
    a ``Retry-After`` from the registry replaces it when present, up to ``max_retry_after``
    (a longer demand ends the retries: waiting that long is not what a user expects).
    ``sleep`` and ``random`` are injectable for tests.
    """

    attempts: int = DEFAULT_RETRY_TIMES + 1
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    fixed_delay: float | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)
    random: Callable[[], float] = field(default=_random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.fixed_delay is not None and self.fixed_delay < 0:
            raise ValueError("RetryPolicy.fixed_delay must not be negative")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(attempts=1)

    @classmethod
    def from_options(
        cls, retry_times: int | None = None, retry_delay: float | None = None
    ) -> RetryPolicy:
        """skopeo's ``--retry-times`` (retries after the first try; None: the default) and
        ``--retry-delay`` (seconds between tries; None or 0: exponential backoff)."""
        attempts = (DEFAULT_RETRY_TIMES if retry_times is None else retry_times) + 1
        return cls(attempts=attempts, fixed_delay=retry_delay or None)

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        if self.fixed_delay is not None:
            return self.fixed_delay
        delay = min(self.max_delay, self.base_delay * (2.0**retry))
        factor: float = 0.5 + self.random() / 2
        return delay * factor

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry ``retry``, or ``None`` when no retry is left.

        ``retry_after`` is what the registry asked for; it wins over the backoff, but a
        demand above ``max_retry_after`` means giving up.
        """
        if retry + 1 >= self.attempts:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return retry_after
        return self.backoff(retry)

    def wait(self, retry: int, retry_after: float | None = None) -> bool:
        """Sleep before retry ``retry``; False (no sleep) when the retries are used up."""
        seconds = self.delay(retry, retry_after)
        if seconds is None:
            return False
        if seconds > 0:
            self.sleep(seconds)
        return True


class Retrying:
    """The chain's outermost layer: each request under a :class:`RetryPolicy`.

    A request with a replayable body is sent again after a retryable status (429, 5xx;
    honouring ``Retry-After``) and after a retryable failure of the token service, and
    after a lost connection too when ``request.method`` is idempotent or ``network_retry``
    says so (opening an upload session: a lost answer leaves it unused and harmless). A
    streamed body is never sent twice. Every network failure leaves as a typed error naming
    ``host`` and the request's ``what``.
    """

    def __init__(self, inner: Transport, policy: RetryPolicy, host: str, timeout: float) -> None:
        self._inner = inner
        self.policy = policy
        self._host = host
        self._timeout = timeout

    def send(self, request: Request, *, retry: bool | None = None) -> Answer:
        """``retry``: None for the default above, True to retry lost connections of a
        method that is not idempotent, False to send once."""
        replayable = request.replayable and retry is not False
        network_retry = replayable and (
            request.method in IDEMPOTENT_METHODS if retry is None else retry
        )
        attempt = 0
        while True:
            try:
                answer = self._inner.send(request)
            except RegistryError as e:
                # Raised by the token flow: a token service that answered 5xx or 429.
                if e.status in RETRY_STATUSES and replayable and self.policy.wait(attempt):
                    attempt += 1
                    continue
                raise
            except NetworkFailure as e:
                if network_retry and self.policy.wait(attempt):
                    attempt += 1
                    continue
                raise network_error(e, self._host, request.what, self._timeout) from None
            if answer.status_code in RETRY_STATUSES and replayable:
                after = parse_retry_after(answer.headers.get("retry-after"))
                if self.policy.delay(attempt, after) is not None:
                    answer.discard()
                    self.policy.wait(attempt, after)
                    attempt += 1
                    continue
            return answer
