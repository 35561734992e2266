"""What the store keeps of a container that runs on its own: how it was asked to run, its
state, its log, and whether its monitor lives.

Beside the container's files, in ``R/containers/<id>/userdata/``:

* ``run.json`` — :class:`RunConfig`: the :class:`RunOptions`, isolation, restart policy, stop
  signal and ``--rm``; written once when the container is made;
* ``state.json`` — :class:`RunState`: status, pid, exit code, start and finish times, restart
  count; replaced whole (temporary file, fsync, rename) under ``state.lock``, so a second CLI
  process always reads one complete state;
* ``ctr.log`` — the output, in podman's ``k8s-file`` format (:mod:`boxwright.runtime.logs`);
* ``runc/``, ``bundle/``, ``exits/``, ``pidfile`` — runc's state, the bundle and conmon's
  files while an ``--isolation oci`` container runs under conmon
  (:mod:`boxwright.runtime.conmon`);
* ``monitor.lock`` — held (``flock``) by the monitor for as long as it lives, and holding its
  pid: a state that says ``running`` with no monitor holding it is a container whose monitor
  died (the machine rebooted), shown as ``exited``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from boxwright.errors import UsageError
from boxwright.runtime.options import Mount, RunOptions

CREATED, RUNNING, STOPPING, EXITED = "created", "running", "stopping", "exited"
#: Options that are descriptors or callbacks of one process, never stored.
_PROCESS_ONLY = frozenset({"stdin", "console", "output", "on_start"})


def now() -> str:
    """The current time as RFC 3339 with nanoseconds, UTC (podman's timestamps)."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}000Z"


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (``...Z`` or ``...+HH:MM`` as conmon writes them, nanoseconds
    allowed) as an aware UTC datetime (parsed by hand: ``strptime`` loads a module lazily,
    which a forked monitor or a process that dropped its privileges may no longer be able
    to read)."""
    offset = timedelta()
    if len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        hours, minutes = text[-5:-3], text[-2:]
        if not (hours.isdigit() and minutes.isdigit()):
            raise ValueError(f"not an RFC 3339 time: {text!r}")
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        offset = -offset if text[-6] == "-" else offset
        text = text[:-6]
    head, _, rest = text.rstrip("Z").partition(".")
    day, sep, clock = head.partition("T")
    try:
        year, month, mday = (int(part) for part in day.split("-"))
        hour, minute, second = (int(part) for part in clock.split(":"))
        micro = int(rest[:6].ljust(6, "0")) if rest else 0
        if not sep or (rest and not rest.isdigit()):
            raise ValueError
        return datetime(year, month, mday, hour, minute, second, micro, tzinfo=UTC) - offset
    except ValueError:
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}") from None


def options_to_json(options: RunOptions) -> dict[str, Any]:
    """The stored form of ``options`` (descriptors and callbacks left out)."""
    out: dict[str, Any] = {}
    for item in dataclasses.fields(options):
        if item.name in _PROCESS_ONLY:
            continue
        value = getattr(options, item.name)
        if item.name == "volumes":
            value = [dataclasses.asdict(v) for v in value]
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[item.name] = value
    return out


def options_from_json(data: dict[str, Any]) -> RunOptions:
    """:func:`options_to_json` read back."""
    known = {f.name for f in dataclasses.fields(RunOptions)} - _PROCESS_ONLY
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            continue
        if name == "volumes":
            value = tuple(Mount(**v) for v in value)
        elif name in ("args", "env", "capabilities", "entrypoint") and value is not None:
            value = tuple(value)
        elif name in ("add_hosts", "rlimits"):
            value = tuple(tuple(v) for v in value)
        elif name == "extra_mounts":
            value = tuple(dict(v) for v in value)
        values[name] = value
    return RunOptions(**values)


@dataclass(frozen=True)
class RestartPolicy:
    """``--restart``: ``no``, ``on-failure[:N]`` (at most N restarts; 0 = no limit) or
    ``always``, as podman defines them; applied by the monitor."""

    name: str = "no"
    max_retries: int = 0

    @classmethod
    def parse(cls, text: str) -> RestartPolicy:
        """``no``, ``always``, ``on-failure`` or ``on-failure:N``; :class:`UsageError` else."""
        name, _, count = text.partition(":")
        if name in ("no", "always", "unless-stopped") and not count:
            return cls("always" if name == "unless-stopped" else name)
        if name == "on-failure" and (not count or count.isdigit()):
            return cls(name, int(count or 0))
        raise UsageError(f"invalid restart policy {text!r}: expected no, on-failure[:N], always")

    def __str__(self) -> str:
        return f"on-failure:{self.max_retries}" if self.max_retries else self.name

    def restarts(self, exit_code: int, restarted: int) -> bool:
        """Whether a container that ended with ``exit_code``, already restarted ``restarted``
        times, runs again."""
        if self.name == "always":
            return True
        if self.name == "on-failure" and exit_code != 0:
            return not self.max_retries or restarted < self.max_retries
        return False


@dataclass(frozen=True)
class RunConfig:
    """How a container was asked to run (``run.json``)."""

    options: RunOptions
    isolation: str = "native"
    restart: RestartPolicy = RestartPolicy()
    stop_signal: str = "SIGTERM"
    stop_timeout: int = 10
    remove: bool = False
    interactive: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "options": options_to_json(self.options),
            "isolation": self.isolation,
            "restart": str(self.restart),
            "stop_signal": self.stop_signal,
            "stop_timeout": self.stop_timeout,
            "remove": self.remove,
            "interactive": self.interactive,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        return cls(
            options=options_from_json(data["options"]),
            isolation=str(data.get("isolation", "native")),
            restart=RestartPolicy.parse(str(data.get("restart", "no"))),
            stop_signal=str(data.get("stop_signal", "SIGTERM")),
            stop_timeout=int(data.get("stop_timeout", 10)),
            remove=bool(data.get("remove", False)),
            interactive=bool(data.get("interactive", False)),
        )


@dataclass(frozen=True)
class RunState:
    """A container's state (``state.json``), as ``inspect`` shows it under ``State``."""

    status: str = CREATED
    pid: int = 0
    """The container process's pid on the host (0 when it does not run)."""
    pid_start: int = 0
    """The kernel's start time of ``pid`` (``/proc/PID/stat``): a reused pid is not it."""
    exit_code: int | None = None
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    restart_count: int = 0
    stop_requested: bool = False
    """Set by ``stop``/``kill``/``rm -f``: the monitor must not restart the container."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def process_start(pid: int) -> int:
    """The start time of process ``pid`` in clock ticks since boot; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rpartition(b")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


class StateFiles:
    """The files of one container's run state (see the module docstring)."""

    def __init__(self, container_dir: Path) -> None:
        self.dir = container_dir / "userdata"

    # One property per file of ``userdata/``, alike by design: each file's name is written
    # here once, and every reader asks for the file by its role.
    @property
    def config_file(self) -> Path:
        return self.dir / "run.json"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def log_file(self) -> Path:
        return self.dir / "ctr.log"

    @property
    def monitor_lock(self) -> Path:
        return self.dir / "monitor.lock"

    @property
    def runtime_root(self) -> Path:
        """runc's state directory (``--root``) of a container conmon keeps."""
        return self.dir / "runc"

    @property
    def bundle_dir(self) -> Path:
        """The OCI bundle of a container conmon keeps (conmon's ``attach`` socket and ``ctl``
        fifo are made there)."""
        return self.dir / "bundle"

    def under_conmon(self, container_id: str) -> bool:
        """Whether runc keeps the container in :attr:`runtime_root` (it runs under conmon)."""
        return (self.runtime_root / container_id / "state.json").is_file()

    def exists(self) -> bool:
        """Whether the container was made to run on its own (``run``, not ``container from``)."""
        return self.config_file.is_file()

    def write_config(self, config: RunConfig) -> None:
        self.dir.mkdir(mode=0o700, exist_ok=True)
        _write_json(self.config_file, config.to_json())

    def config(self) -> RunConfig:
        return RunConfig.from_json(json.loads(self.config_file.read_text(encoding="utf-8")))

    def read(self) -> RunState:
        """The state as last written (a dead monitor's ``running`` shown as ``exited``)."""
        try:
            state = RunState.from_json(json.loads(self.state_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return RunState()
        if state.status in (RUNNING, STOPPING) and not self.monitor_alive():
            return dataclasses.replace(state, status=EXITED, pid=0)
        return state

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.dir / "state.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def update(self, change: Callable[[RunState], RunState]) -> RunState:
        """Read, change and replace the state under the lock; return the new state."""
        with self._locked():
            try:
                raw = json.loads(self.state_file.read_text(encoding="utf-8"))
                current = RunState.from_json(raw)
            except FileNotFoundError:
                current = RunState()
            new = change(current)
            _write_json(self.state_file, new.to_json())
            return new

    def monitor_pidfd(self) -> int | None:
        """A pidfd of the monitor holding ``monitor.lock`` (its pid is what the lock file
        says): it becomes readable the moment the monitor ends, so a waiter wakes then rather
        than at its next poll. ``None`` when no monitor holds the lock or its pid is unknown;
        the caller closes it."""
        try:
            pid = int(self.monitor_lock.read_bytes())
            fd = os.pidfd_open(pid)
        except (OSError, ValueError):
            return None
        if not self.monitor_alive():
            os.close(fd)
            return None
        return fd

    def monitor_alive(self) -> bool:
        """Whether a monitor holds ``monitor.lock``."""
        try:
            fd = os.open(self.monitor_lock, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def _write_json(path: Path, value: Any) -> None:
    """Replace ``path`` atomically: a temporary file in the same directory, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(value, separators=(",", ":")).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


__all__ = [
    "CREATED",
    "EXITED",
    "RUNNING",
    "STOPPING",
    "RestartPolicy",
    "RunConfig",
    "RunState",
    "StateFiles",
    "now",
    "options_from_json",
    "options_to_json",
    "parse_time",
    "process_start",
]
