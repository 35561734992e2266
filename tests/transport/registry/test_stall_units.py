"""The stall and retry policies as pure values: windows, floors, fixed delays, skopeo's
``--retry-times``/``--retry-delay`` mapping, and the Go durations the CLI parses."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.cli.params import parse_duration
from boxwright.errors import UsageError
from boxwright.transport.options import TransportOptions
from boxwright.transport.registry.failures import StallFailure, network_error
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.stall import StallPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_watch_needs_min_bytes_in_every_window() -> None:
    clock = Clock()
    watch = StallPolicy(seconds=10, min_bytes=100, clock=clock).watch()
    clock.now += 9
    watch.add(99)  # not enough yet: the window still runs from the start
    assert watch.remaining() == 1
    clock.now += 0.5
    watch.add(1)  # 100 bytes: a new window starts now
    assert watch.remaining() == 10
    clock.now += 10.5
    with pytest.raises(StallFailure) as stalled:
        watch.add(5)  # arrived after the window ended
    assert str(stalled.value) == "nothing was received for 10 s"
    assert watch.total == 100


def test_the_failure_says_how_little_moved() -> None:
    clock = Clock()
    watch = StallPolicy(seconds=2.5, clock=clock).watch("sent")
    watch.record(12)
    clock.now += 3
    with pytest.raises(StallFailure) as stalled:
        watch.check()
    assert str(stalled.value) == "only 12 bytes were sent in 2.5 s (at least 1024 expected)"
    error = network_error(stalled.value, "reg:5000", "blob sha256:ab in app", 60)
    assert type(error).__name__ == "StalledTransferError"
    assert str(error) == (
        "reg:5000: blob sha256:ab in app stalled: only 12 bytes were sent in 2.5 s "
        "(at least 1024 expected)"
    )


def test_stall_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        StallPolicy(seconds=0)
    with pytest.raises(ValueError, match="at least 1"):
        StallPolicy(min_bytes=0)


def test_retry_times_and_delay_map_onto_the_policy() -> None:
    assert RetryPolicy.from_options() == RetryPolicy(attempts=4)
    assert RetryPolicy.from_options(0) == RetryPolicy(attempts=1)
    fixed = RetryPolicy.from_options(2, 1.5)
    assert (fixed.attempts, fixed.fixed_delay) == (3, 1.5)
    assert [fixed.delay(n) for n in range(3)] == [1.5, 1.5, None]
    assert fixed.delay(0, retry_after=4.0) == 4.0  # the registry's Retry-After still wins
    exponential = RetryPolicy.from_options(5, 0.0)  # 0s: exponential, as skopeo
    assert exponential.fixed_delay is None
    with pytest.raises(UsageError, match="retry delay"):
        TransportOptions(retry_delay=-1.0)
    with pytest.raises(UsageError, match="stall timeout"):
        TransportOptions(stall_timeout=0.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("0", 0.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2", "-1s", "2x", "", "1s2", "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "command",
    [
        ["copy", "oci:a", "oci:b"],
        ["sync", "--src", "docker", "--dest", "dir", "docker://h/r", "d"],
        ["pull", "docker://h/r"],
        ["push", "app", "docker://h/r"],
        ["inspect", "docker://h/r"],
        ["list-tags", "docker://h/r"],
        ["delete", "docker://h/r:1"],
        ["build", "."],
    ],
)
@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--retry-delay", "2", "'2' is not a duration"),
        ("--retry-delay", "-1s", "'-1s' is negative"),
        ("--retry-times", "-1", "-1 is not in the range x>=0"),
        ("--retry-times", "x", "'x' is not a valid integer"),
        ("--stall-timeout", "0s", "must be more than 0s"),
    ],
)
def test_bad_retry_flags_are_usage_errors(
    command: list[str], flag: str, value: str, message: str
) -> None:
    result = CliRunner().invoke(main, [command[0], flag, value, *command[1:]])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_podman_commands_also_take_retry() -> None:
    for command in ("pull", "push", "build"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert "--retry-times, --retry N" in result.output, command
