"""Containers that run on their own: :class:`Container`, podman's verbs on one object.

A container made by :meth:`Container.create` (``boxwright run``) is a working container of
the store with a run configuration and state beside its files (:mod:`boxwright.runtime.state`).
:meth:`Container.start` hands it to a monitor (:mod:`boxwright.runtime.monitor`) and returns
when its command runs; the monitor keeps its log and exit status after the caller is gone, so
any later process (``ps``, ``logs``, ``stop``, ``wait``, ``exec``) finds it through the store::

    from boxwright.runtime import Container, RunOptions
    c = Container.create("app:1", RunOptions(args=("serve",)), name="web")
    c.start()
    c.exec(["cat", "/etc/hostname"])        # 0; the output went to this process's stdout
    for record in c.logs(tail=10):
        print(record.data.decode(), end="")
    c.stop(timeout=5)                       # the image's StopSignal, SIGKILL after 5 s
    c.remove()
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boxwright.errors import RunError, UsageError
from boxwright.runtime.attach import (
    DEFAULT_DETACH_KEYS,
    Attachment,
    ConmonAttachment,
    caller_terminal_size,
    parse_detach_keys,
    raw_terminal,
    terminal_size,
)
from boxwright.runtime.launch import MonitorLaunch
from boxwright.runtime.logs import LogRecord, read_log
from boxwright.runtime.options import RunOptions
from boxwright.runtime.ports import PortMapping, inspect_ports, parse_publish, requested_ports
from boxwright.runtime.state import (
    EXITED,
    RUNNING,
    RestartPolicy,
    RunConfig,
    RunState,
    StateFiles,
    process_start,
)
from boxwright.store.containerrecord import ContainerRecord
from boxwright.store.store import Store

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

_POLL = 0.02


def parse_signal(text: str | int) -> signal.Signals:
    """``SIGTERM``, ``TERM``, ``term`` or ``15`` as a signal; :class:`UsageError` else."""
    if isinstance(text, int) or str(text).isdigit():
        try:
            return signal.Signals(int(text))
        except ValueError:
            raise UsageError(f"invalid signal {text!r}") from None
    name = str(text).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return signal.Signals[name]
    except KeyError:
        raise UsageError(f"invalid signal {text!r}") from None


def _with_host_ports(options: RunOptions, image_config: dict[str, Any]) -> RunOptions:
    """``options`` with its published ports' host ports chosen, once, when the container is
    made (as podman's create does): every later process, and every restart, sees the same
    ones in run.json."""
    if not (options.publish or options.publish_all):
        return options
    from boxwright.runtime.network import assign_host_ports

    wanted = requested_ports(options, image_config.get("ExposedPorts") or ())
    published = tuple(str(port) for port in assign_host_ports(wanted))
    return dataclasses.replace(options, publish=published, publish_all=False)


class Container:
    """A container of the store that runs on its own (see the module docstring).

    Every method reads the state anew from the store: two processes, or two objects, see
    the same container.
    """

    def __init__(self, name_or_id: str, *, store: Store | None = None) -> None:
        """The container ``name_or_id`` (name, ID or unique ID prefix) of ``store``."""
        self.store = store if store is not None else Store()
        self.record: ContainerRecord = self.store.container_record(name_or_id)
        self.id = self.record.id
        self.name = self.record.name
        self.files = StateFiles(self.store.layout.container_dir(self.id))
        if not self.files.exists():
            raise UsageError(
                f"{self.name} is a working container (container from): it has no command to "
                "run; use `container run`"
            )

    @classmethod
    def create(
        cls,
        image: str,
        options: RunOptions | None = None,
        *,
        store: Store | None = None,
        name: str | None = None,
        isolation: str = "native",
        restart: RestartPolicy | str = "no",
        remove: bool = False,
        stop_signal: str | None = None,
        stop_timeout: int = 10,
        platform: Platform | None = None,
        interactive: bool = False,
        start: bool = False,
    ) -> Container:
        """Make a container of ``image`` (pulled first when it is a transport reference) that
        runs ``options`` once started. ``stop_signal`` defaults to the image's StopSignal;
        ``platform`` picks the image out of an index or a manifest list (default: this
        machine's); ``interactive`` keeps its stdin open for attached clients to write to
        (``-i``); ``options.terminal`` gives it a terminal its monitor holds (``-t``).

        ``start`` starts it too (``run -d``): its monitor, forked first, loads the runners
        while the container is made (:mod:`boxwright.runtime.launch`); one that cannot start
        raises :class:`RunError` and stays unless ``remove``."""
        if isolation not in ("native", "oci"):
            raise UsageError(f"unknown isolation {isolation!r}: expected native or oci")
        store = store if store is not None else Store()
        policy = RestartPolicy.parse(restart) if isinstance(restart, str) else restart
        if remove and policy.name != "no":
            raise UsageError("--rm and --restart cannot be used together")
        launch = MonitorLaunch(store.root) if start else None
        try:
            record = store.containers.create(image, name, platform=platform)
            image_config = record.config.get("config") or {}
            config_stop = image_config.get("StopSignal") or "SIGTERM"
            signal_name = parse_signal(stop_signal or config_stop).name
            options = _with_host_ports(options or RunOptions(), image_config)
            # The run settings field by field: alike in shape only to other keyword constructions.
            config = RunConfig(
                options=options,
                isolation=isolation,
                restart=policy,
                stop_signal=signal_name,
                stop_timeout=stop_timeout,
                remove=remove,
                interactive=interactive,
            )
            try:
                StateFiles(store.containers.directory(record.id)).write_config(config)
            except BaseException:
                store.containers.remove(record.id)
                raise
            container = cls(record.id, store=store)
        except BaseException:
            if launch is not None:
                launch.cancel()
            raise
        return container._start_launched(launch) if launch is not None else container

    def _start_launched(self, launch: MonitorLaunch) -> Container:
        """Start a new container under the monitor ``launch`` forked for it; one that cannot
        start is removed when it was made with ``--rm``."""
        try:
            self._reset_run()
            launch.start(self.id)
        except BaseException:
            if self.config.remove:
                self.remove(force=True)
            raise
        return self

    @classmethod
    def list(cls, *, store: Store | None = None) -> list[Container]:
        """Every container of the store made to run on its own, oldest first."""
        store = store if store is not None else Store()
        found = []
        for record in store.containers.list():
            if StateFiles(store.layout.container_dir(record.id)).exists():
                found.append(cls(record.id, store=store))
        return found

    # -- state ------------------------------------------------------------------------------

    @property
    def config(self) -> RunConfig:
        """How the container was asked to run."""
        return self.files.config()

    def state(self) -> RunState:
        """The current state, as the monitor last recorded it."""
        return self.files.read()

    def ports(self) -> tuple[PortMapping, ...]:
        """The published ports, each with the host port chosen when it was made."""
        return tuple(p for text in self.config.options.publish for p in parse_publish(text))

    def is_running(self) -> bool:
        return self.state().status == RUNNING

    def inspect(self) -> dict[str, Any]:
        """podman-inspect's view: ID, name, image, created, config and ``State``."""
        state = self.state()
        config = self.config
        return {
            "Id": self.id,
            "Name": self.name,
            "Image": self.record.image_id,
            "ImageName": self.record.image_name,
            "Created": self.record.created,
            "Path": (config.options.entrypoint or config.options.args or ("",))[0],
            "Args": list(config.options.args),
            "State": {
                "Status": state.status,
                "Running": state.status == RUNNING,
                "Pid": state.pid,
                "ExitCode": state.exit_code if state.exit_code is not None else 0,
                "Error": state.error,
                "StartedAt": state.started_at,
                "FinishedAt": state.finished_at,
                "RestartCount": state.restart_count,
            },
            "HostConfig": {
                "RestartPolicy": str(config.restart),
                "AutoRemove": config.remove,
                "StopSignal": config.stop_signal,
                "StopTimeout": config.stop_timeout,
            },
            "Isolation": config.isolation,
            "NetworkSettings": {"Ports": inspect_ports(self.ports())},
        }

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> int:
        """Start the container under its monitor; return its pid once its command runs.

        A running container is left alone (its pid is returned). Raises :class:`RunError`
        with podman's exit code when it cannot start.
        """
        state = self.state()
        if state.status == RUNNING:
            return state.pid
        self._wait_monitor_gone(10)
        self._reset_run()
        return MonitorLaunch(self.store.root).start(self.id)

    def _reset_run(self) -> None:
        """Forget the last run's stop request, exit code and error before a new one."""
        self.files.update(
            lambda s: dataclasses.replace(s, stop_requested=False, exit_code=None, error="")
        )

    def run_attached(
        self,
        *,
        stdin: int | None = None,
        output: tuple[int | None, int | None] = (1, 2),
        detach_keys: str = DEFAULT_DETACH_KEYS,
    ) -> int | None:
        """Start the container under its monitor attached to this process (a foreground
        ``run``, ``start -a``): the monitor waits for this client before the command runs, so
        no output is missed; it is also in the log. Relays as :meth:`attach` does and
        returns the exit code, or ``None`` when the detach keys were typed (the container
        runs on). :class:`RunError` with podman's exit code when it cannot start."""
        keys = parse_detach_keys(detach_keys)
        if self.state().status == RUNNING:
            raise RunError(f"container {self.name} is already running", 125)
        self._wait_monitor_gone(10)
        self._reset_run()
        size = self._size(stdin)
        attached: list[Attachment] = []

        def connect() -> None:
            attached.append(Attachment.connect(self.files.dir, size=size))

        with raw_terminal(stdin if self.config.options.terminal else None):
            try:
                MonitorLaunch(self.store.root).start(self.id, on_listening=connect)
            except BaseException:
                for attachment in attached:
                    attachment.close()
                raise
            return self._relay(attached[0], stdin, output, keys)

    # run_attached's options, repeated: both relay through _relay, one after starting the
    # container, the other to one already running.
    def attach(
        self,
        *,
        stdin: int | None = None,
        output: tuple[int | None, int | None] = (1, 2),
        detach_keys: str = DEFAULT_DETACH_KEYS,
    ) -> int | None:
        """Attach to the running container (``podman attach``): ``stdin``'s bytes go to its
        stdin (kept open with ``-i``) or terminal (``-t``; a terminal ``stdin`` is put in raw
        mode and its window size followed), its output from now on to ``output``'s
        ``(stdout, stderr)`` descriptors (``None`` drops one), and this process's
        :data:`~boxwright.runtime.sigproxy.FORWARDED_SIGNALS` to its process. Returns the
        exit code when it exits, or ``None`` when the detach keys (podman's syntax, ``""``
        for none) were typed."""
        keys = parse_detach_keys(detach_keys)
        if not self.is_running():
            raise RunError(f"container {self.name} is not running: only a running one can be "
                           "attached to", 125)  # fmt: skip
        size = self._size(stdin)
        if self.files.under_conmon(self.id):
            pid = self.state().pid
            attachment: Attachment = ConmonAttachment.connect_to(
                self.files.bundle_dir, lambda: self._run_end(pid), size=size
            )
        else:
            attachment = Attachment.connect(self.files.dir, size=size)
        with raw_terminal(stdin if self.config.options.terminal else None):
            return self._relay(attachment, stdin, output, keys)

    def _run_end(self, pid: int) -> int:
        """The exit code of the run whose process was ``pid``, once it has ended."""
        while True:
            state = self.state()
            if state.status != RUNNING or state.pid != pid:
                return state.exit_code if state.exit_code is not None else 0
            time.sleep(_POLL)

    def _size(self, stdin: int | None) -> tuple[int, int] | None:
        if not self.config.options.terminal:
            return None
        return terminal_size(stdin) if stdin is not None else caller_terminal_size()

    def _relay(
        self,
        attachment: Attachment,
        stdin: int | None,
        output: tuple[int | None, int | None],
        keys: bytes,
    ) -> int | None:
        try:
            return attachment.relay(
                stdin=stdin, output=output, detach_keys=keys, signal_target=self._pid
            )
        finally:
            attachment.close()

    def _pid(self) -> int:
        state = self.state()
        return state.pid if process_start(state.pid) == state.pid_start else 0

    def kill(self, signum: str | int = "SIGKILL") -> None:
        """Send ``signum`` to the container's process; the restart policy no longer applies."""
        sig = parse_signal(signum)
        state = self.files.update(lambda s: dataclasses.replace(s, stop_requested=True))
        if state.status != RUNNING or not self.files.monitor_alive():
            raise RunError(f"container {self.name} is not running", 125)
        self._signal(state, sig)

    def stop(self, timeout: float | None = None) -> int | None:
        """Send the stop signal (the image's StopSignal, else SIGTERM), then SIGKILL after
        ``timeout`` seconds (default: the container's, 10); return the exit code (``None``
        when it was not running)."""
        config = self.config
        timeout = config.stop_timeout if timeout is None else timeout
        state = self.files.update(lambda s: dataclasses.replace(s, stop_requested=True))
        if state.status != RUNNING or not self.files.monitor_alive():
            return None
        self._signal(state, parse_signal(config.stop_signal))
        if self._wait_exited(timeout):
            return self.state().exit_code
        self._signal(state, signal.SIGKILL)
        self._wait_exited(None)
        return self.state().exit_code

    def restart(self, timeout: float | None = None) -> int:
        """Stop (as :meth:`stop`) and start again; return the new pid."""
        self.stop(timeout)
        return self.start()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the container to exit and return its exit code; :class:`RunError` when
        ``timeout`` seconds pass first."""
        if not self._wait_exited(timeout):
            raise RunError(f"container {self.name} still runs after {timeout} s", 125)
        code = self.state().exit_code
        return 0 if code is None else code

    def remove(self, *, force: bool = False) -> None:
        """Remove the container and its files; a running one only with ``force`` (killed)."""
        if self.is_running():
            if not force:
                raise RunError(
                    f"container {self.name} is running: stop it first, or remove it with -f", 125
                )
            self.kill("SIGKILL")
            self._wait_exited(None)
        self._wait_monitor_gone(30)
        from boxwright.errors import ContainerNotFoundError

        with contextlib.suppress(ContainerNotFoundError):  # a --rm container's monitor was first
            self.store.containers.remove(self.id)

    # -- output and exec --------------------------------------------------------------------

    def logs(
        self, *, follow: bool = False, since: datetime | None = None, tail: int | None = None
    ) -> Iterator[LogRecord]:
        """The container's output records (see :mod:`boxwright.runtime.logs`): those from
        ``since`` on, the last ``tail`` lines, and with ``follow`` what it writes until it
        exits."""
        alive = self.files.monitor_alive if follow else None
        return read_log(self.files.log_file, since=since, tail=tail, follow=alive)

    def exec(
        self,
        args: Sequence[str],
        *,
        env: Sequence[str] = (),
        user: str | None = None,
        workdir: str | None = None,
        terminal: bool = False,
        stdin: int | None = None,
    ) -> int:
        """Run ``args`` in the running container's namespaces and return its exit code.

        The process gets the container's environment (then ``env``), user (or ``user``),
        working directory (or ``workdir``) and capabilities; it writes to this process's
        stdout and stderr and reads ``stdin`` (default ``/dev/null``), or with ``terminal``
        a terminal of its own relayed to this process's.
        """
        state = self.state()
        if state.status != RUNNING or process_start(state.pid) != state.pid_start:
            raise RunError(f"container {self.name} is not running", 125)
        options = self.config.options
        image = self.record.config.get("config") or {}
        if self.files.under_conmon(self.id):
            # podman's runc exec (subprocess and the runtimes are loaded only here)
            from boxwright.runtime.ociruntime import runc_exec

            return runc_exec(
                self.files,
                self.id,
                state.pid,
                list(args),
                env=tuple(env),
                user=user if user is not None else (options.user or image.get("User") or ""),
                workdir=workdir or options.workdir or image.get("WorkingDir") or None,
                terminal=terminal,
                stdin=stdin,
            )
        from boxwright.runtime.nsexec import exec_in  # the native one's namespaces and forks

        code: int = exec_in(
            state.pid,
            self.store.layout.container_dir(self.id),
            options,
            args=list(args),
            env=tuple(env),
            user=user if user is not None else (options.user or image.get("User") or ""),
            workdir=workdir or options.workdir or image.get("WorkingDir") or "/",
            terminal=terminal,
            stdin=stdin,
        )
        return code

    # -- helpers ------------------------------------------------------------------------------

    def _signal(self, state: RunState, sig: signal.Signals) -> None:
        if process_start(state.pid) != state.pid_start:
            return  # gone already (or its pid reused): nothing of ours to signal
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, sig)

    def _wait_exited(self, timeout: float | None) -> bool:
        """Wait until the container has exited and its monitor will not start it again (a
        stop was asked for, or the monitor ended); ``False`` when ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with _MonitorWatch(self.files) as watch:
            while True:
                if not self.files.dir.exists():
                    return True  # removed (--rm) by its monitor
                state = self.state()
                if state.status == EXITED and (
                    state.stop_requested or not self.files.monitor_alive()
                ):
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                watch.pause(deadline)

    def _wait_monitor_gone(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with _MonitorWatch(self.files) as watch:
            while self.files.monitor_alive():
                if time.monotonic() >= deadline:
                    raise RunError(f"the monitor of container {self.name} does not end", 125)
                watch.pause(deadline)


class _MonitorWatch:
    """The pause between two looks at a container's state: :data:`_POLL`, cut short when
    its monitor ends (a pidfd of it, :meth:`StateFiles.monitor_pidfd`). The monitor records
    the end of a run, and with it the end of a stopped container, just before it ends, so
    ``stop`` and ``wait`` return at once rather than at their next poll."""

    def __init__(self, files: StateFiles) -> None:
        self.fd = files.monitor_pidfd()

    def __enter__(self) -> _MonitorWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def pause(self, deadline: float | None) -> None:
        """Sleep up to :data:`_POLL` (never past ``deadline``), less when the monitor ends."""
        wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
        if self.fd is None:
            time.sleep(wait)
            return
        if select.select([self.fd], [], [], wait)[0]:
            self._close()  # ended: the next look sees it; later pauses sleep


__all__ = ["Container", "parse_signal"]
