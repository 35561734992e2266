"""The native runner: a runtime spec executed with Linux namespaces made from Python.

Three processes, as runc and crun arrange them:

* the **caller** forks, writes the ID mapping with ``newuidmap``/``newgidmap`` when the spec
  maps subordinate IDs, relays a terminal, forwards signals and returns the exit code;
* the **keeper** (first child) leaves the caller's session, enters a new user namespace when
  the spec has one (writing a single-ID map itself), then new PID, UTS, IPC, cgroup and
  (``network: none``) network namespaces, brings ``lo`` up, forks the container process and
  waits for it, passing its signals on and its exit status back (128 + signal when killed);
* the **container** (PID 1 of the new PID namespace) makes its own mount namespace, binds the
  rootfs onto itself, mounts ``/proc``, a tmpfs ``/dev`` with the host's null, zero, full,
  random, urandom and tty bound in, ``/dev/pts``, ``/dev/shm``, ``/dev/mqueue``, ``/sys``
  read-only and the spec's bind mounts, masks and write-protects the spec's paths,
  ``pivot_root``\\s into the rootfs, sets the hostname, rlimits, groups, IDs and capabilities,
  and execs the command (looked up in the container's ``PATH``).

Where a mount is refused (inside an unprivileged container, /proc or /sys may not be mounted
anew) the host's is bound read-only instead and a warning is logged. A failure before exec
comes back as a :class:`~boxwright.errors.RunError` with podman's exit codes (125 set-up,
126 not executable, 127 not found). Everything the children run is imported before the fork:
after ``pivot_root`` nothing of the host's file system is reachable. The container process's
last steps (user, capabilities, exec), the report pipe and the caller's signal forwarding and
terminal relay are :mod:`boxwright.runtime.process`'s, which ``exec`` shares.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import resource
import signal
import sys
import termios
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from boxwright.errors import RunError
from boxwright.layer.pathsafe import resolve_in_root
from boxwright.oci.ids import check_id
from boxwright.runtime import linux
from boxwright.runtime.cgroups import (
    check_delegation,
    enter_cgroup,
    has_limits,
    make_cgroup,
    remove_cgroup,
)
from boxwright.runtime.idmap import (
    write_mapping_with_helpers,
    write_self_mapping,
)
from boxwright.runtime.network import HelperPlan, NetworkHelper, start_helper
from boxwright.runtime.process import (
    Plan,
    Report,
    SetupError,
    become_and_exec,
    copy_window_size,
    exit_code,
    fail_setup,
    forwarding_signals,
    raise_reported,
    read_all,
    relay_terminal,
    setgroups_allowed,
)
from boxwright.runtime.sigproxy import FORWARDED_SIGNALS, handling
from boxwright.runtime.spec import CAPABILITY_NUMBERS, CHOWN_ANNOTATION, spec_mapping
from boxwright.runtime.stubs import mount_point

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
)
_NAMESPACE_FLAGS = {
    "pid": linux.CLONE_NEWPID,
    "uts": linux.CLONE_NEWUTS,
    "ipc": linux.CLONE_NEWIPC,
    "network": linux.CLONE_NEWNET,
    "cgroup": linux.CLONE_NEWCGROUP,
}
_MOUNT_FLAGS = {
    "ro": linux.MS_RDONLY,
    "nosuid": linux.MS_NOSUID,
    "nodev": linux.MS_NODEV,
    "noexec": linux.MS_NOEXEC,
    "noatime": 1024,
    "nodiratime": 2048,
    "relatime": 1 << 21,
    "strictatime": 1 << 24,
    "sync": 16,
    "dirsync": 128,
}
_IGNORED_OPTIONS = frozenset(
    {"rw", "bind", "rbind", "private", "rprivate", "slave", "rslave", "shared", "rshared"}
)
# statvfs f_flag bits → the mount flags a bind remount in a user namespace must keep.
_LOCKED = ((1, linux.MS_RDONLY), (2, linux.MS_NOSUID), (4, linux.MS_NODEV), (8, linux.MS_NOEXEC),
           (1024, 1024), (2048, 2048), (4096, 1 << 21))  # fmt: skip


def _caps_mask(names: Sequence[str]) -> int:
    mask = 0
    for name in names:
        number = CAPABILITY_NUMBERS.get(name)
        if number is None:
            raise RunError(f"unknown capability {name!r} in the runtime spec")
        mask |= 1 << number
    return mask


def _plan(spec: dict[str, Any]) -> Plan:
    process = spec["process"]
    linux_spec = spec.get("linux") or {}
    kinds = {ns["type"] for ns in linux_spec.get("namespaces") or ()}
    flags = 0
    joined = {ns["type"]: ns["path"] for ns in linux_spec.get("namespaces") or () if ns.get("path")}
    for kind, flag in _NAMESPACE_FLAGS.items():
        if kind in kinds and kind not in joined:
            flags |= flag
    env: dict[str, str] = {}
    for entry in process.get("env") or ():
        name, _, value = entry.partition("=")
        env[name] = value
    user = process.get("user") or {}
    caps = process.get("capabilities") or {}
    rlimits = []
    for item in process.get("rlimits") or ():
        number = getattr(resource, item["type"], None)
        if number is None:
            raise RunError(f"unknown rlimit {item['type']!r} in the runtime spec")
        rlimits.append((number, int(item["soft"]), int(item["hard"])))
    root = spec["root"]["path"]
    if not os.path.isabs(root):
        raise RunError(f"the native runner needs an absolute root path, not {root!r}")
    if not os.path.isdir(root):
        raise RunError(f"rootfs {root} is not a directory")
    return Plan(
        rootfs=root,
        args=list(process["args"]),
        env=env,
        cwd=process.get("cwd") or "/",
        uid=check_id(user.get("uid", 0), "uid"),
        gid=check_id(user.get("gid", 0), "gid"),
        groups=[check_id(g, "gid") for g in user.get("additionalGids") or ()],
        hostname=spec.get("hostname") if "uts" in kinds else None,
        clone_flags=flags,
        new_network="network" in kinds and "network" not in joined,
        mapping=None if "user" in joined else spec_mapping(spec),
        mounts=[dict(m) for m in spec.get("mounts") or ()],
        masked=list(linux_spec.get("maskedPaths") or ()),
        readonly=list(linux_spec.get("readonlyPaths") or ()),
        bounding=_caps_mask(caps.get("bounding") or ()),
        granted=_caps_mask(caps.get("effective") or ()),
        rlimits=rlimits,
        no_new_privileges=bool(process.get("noNewPrivileges")),
        readonly_root=bool(spec["root"].get("readonly")),
        terminal=bool(process.get("terminal")),
        joined=joined,
        network=HelperPlan.from_spec(spec) if "network" not in joined else None,
        chown=_chown_request(spec),
        resources=dict(linux_spec.get("resources") or {})
        if has_limits(linux_spec.get("resources") or {})
        else {},
    )


def _chown_request(spec: dict[str, Any]) -> tuple[int, int, list[str]] | None:
    import json

    text = (spec.get("annotations") or {}).get(CHOWN_ANNOTATION)
    if not text:
        return None
    uid, gid, destinations = json.loads(text)
    return check_id(uid, "uid"), check_id(gid, "gid"), [str(d) for d in destinations]


def _chown_mounts(plan: Plan) -> None:
    """``-v ...:U``: give each such mount's tree to the container's user, from inside the
    user namespace (where its IDs are mapped), never following a link."""
    if plan.chown is None:
        return
    uid, gid, destinations = plan.chown
    for destination in destinations:
        top = str(resolve_in_root(plan.rootfs, destination, follow_last=True))
        os.lchown(top, uid, gid)
        for where, dirs, files in os.walk(top):
            for name in dirs + files:
                os.lchown(os.path.join(where, name), uid, gid)


# ---------------------------------------------------------------------------------------------
# The container process (PID 1 of its namespace)


def _split_options(options: Sequence[str]) -> tuple[int, str]:
    flags = 0
    data: list[str] = []
    for option in options:
        if option in _MOUNT_FLAGS:
            flags |= _MOUNT_FLAGS[option]
        elif option not in _IGNORED_OPTIONS:
            data.append(option)
    return flags, ",".join(data)


def _locked_flags(path: str) -> int:
    try:
        current = os.statvfs(path).f_flag
    except OSError:
        return 0
    return sum(ms for st, ms in _LOCKED if current & st)


def _bind(source: str, target: str, flags: int, recursive: bool = True) -> None:
    linux.mount(source, target, None, linux.MS_BIND | (linux.MS_REC if recursive else 0))
    extra = flags & ~(linux.MS_BIND | linux.MS_REC)
    if extra:
        remount = linux.MS_REMOUNT | linux.MS_BIND | extra | _locked_flags(target)
        linux.mount(None, target, None, remount)


def _mount_one(plan: Plan, report: Report, mount: dict[str, Any]) -> None:
    kind = mount.get("type") or "bind"
    destination = mount["destination"]
    options = list(mount.get("options") or ())
    flags, data = _split_options(options)
    is_bind = kind == "bind" or "bind" in options or "rbind" in options
    if kind == "cgroup":
        return  # cgroup file systems are left to OCI runtimes (docs/runtime.md)
    source = mount.get("source") or kind
    is_file = is_bind and not os.path.isdir(source)
    try:
        target = str(mount_point(plan.rootfs, destination, is_file=is_file))
    except RunError as error:
        raise SetupError(125, str(error)) from error
    try:
        if is_bind:
            _bind(source, target, flags, recursive="bind" not in options)
            return
        try:
            linux.mount(source, target, kind, flags, data or None)
        except OSError as error:
            if kind == "devpts" and "gid=" in data:
                data = ",".join(d for d in data.split(",") if not d.startswith("gid="))
                linux.mount(source, target, kind, flags, data or None)
                return
            host = {"proc": "/proc", "sysfs": "/sys", "devpts": "/dev/pts", "mqueue": "/dev/mqueue"}
            if error.errno not in (errno.EPERM, errno.EACCES) or kind not in host:
                raise
            if kind != "sysfs":  # podman binds the host's sysfs read-only without a word
                report.warn(
                    f"cannot mount a new {kind} at {destination} here ({error.strerror}): "
                    f"the host's {host[kind]} is bound instead"
                )
            _bind(host[kind], target, flags | (linux.MS_RDONLY if kind != "devpts" else 0))
    except OSError as error:
        raise SetupError(
            125, f"cannot mount {kind} {source} at {destination}: {error.strerror}"
        ) from error


def _populate_dev(plan: Plan, slave_name: str | None) -> None:
    dev = str(mount_point(plan.rootfs, "/dev"))
    for name in DEVICES:
        target = str(mount_point(plan.rootfs, f"/dev/{name}", is_file=True))
        _bind(f"/dev/{name}", target, 0, recursive=False)
    for name, link in DEV_LINKS:
        path = os.path.join(dev, name)
        if name == "core" and not os.path.exists("/proc/kcore"):
            continue  # as runc: only where the host has one
        if not os.path.lexists(path):
            os.symlink(link, path)
    if slave_name:
        target = str(mount_point(plan.rootfs, "/dev/console", is_file=True))
        _bind(slave_name, target, 0, recursive=False)


def _protect_paths(plan: Plan) -> None:
    for path in plan.masked:
        target = str(resolve_in_root(plan.rootfs, path, follow_last=True))
        with contextlib.suppress(OSError):
            if os.path.isdir(target):
                linux.mount("tmpfs", target, "tmpfs", linux.MS_RDONLY)
            elif os.path.exists(target):
                _bind("/dev/null", target, 0, recursive=False)
    for path in plan.readonly:
        target = str(resolve_in_root(plan.rootfs, path, follow_last=True))
        if os.path.exists(target):
            with contextlib.suppress(OSError):
                _bind(target, target, linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)


def _enter_rootfs(plan: Plan, report: Report, slave_name: str | None) -> bool:
    """Mounts and ``pivot_root``; returns whether setgroups(2) is allowed."""
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.mount(plan.rootfs, plan.rootfs, None, linux.MS_BIND | linux.MS_REC)
    dev_is_tmpfs = False
    for mount in plan.mounts:
        _mount_one(plan, report, mount)
        if mount["destination"].rstrip("/") == "/dev" and mount.get("type") == "tmpfs":
            dev_is_tmpfs = True
    if dev_is_tmpfs:
        _populate_dev(plan, slave_name)
    _chown_mounts(plan)
    _protect_paths(plan)
    if plan.readonly_root:
        flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY
        linux.mount(None, plan.rootfs, None, flags | _locked_flags(plan.rootfs))
    groups_allowed = setgroups_allowed()
    if plan.hostname is not None:
        # refused by a seccomp filter (podman's default, without CAP_SYS_ADMIN): the name of
        # the outer container stays (docs/runtime.md)
        with contextlib.suppress(PermissionError):
            linux.sethostname(plan.hostname)
    os.chdir(plan.rootfs)
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")
    return groups_allowed


def _container(plan: Plan, report: Report, slave: int | None) -> None:
    try:
        for signum in signal.valid_signals():
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        slave_name = os.ttyname(slave) if slave is not None else None
        groups_allowed = _enter_rootfs(plan, report, slave_name)
        if slave is not None:
            os.setsid()
            fcntl.ioctl(slave, getattr(termios, "TIOCSCTTY", 0x540E), 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
        os.makedirs(plan.cwd, exist_ok=True)
        become_and_exec(plan, groups_allowed)
    except BaseException as error:
        fail_setup(report, error)


# ---------------------------------------------------------------------------------------------
# The keeper: namespaces, then wait for the container process


def _join(path: str, kind: int) -> None:
    """Enter the namespace at ``path`` (``setns``), as a setup error when refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, kind)
        finally:
            os.close(fd)
    except OSError as error:
        raise SetupError(125, f"cannot join the namespace {path}: {error.strerror}") from error


def _keeper(plan: Plan, report: Report, sync: tuple[int, int], slave: int | None) -> None:
    try:
        os.setsid()
        linux.set_parent_death_signal(signal.SIGKILL)
        if plan.mapping is not None:
            euid = os.geteuid()  # read first: inside the new namespace it is unmapped (65534)
            linux.set_dumpable()
            linux.unshare(linux.CLONE_NEWUSER)
            if plan.mapping.single and plan.mapping.uids[0].host_id == euid:
                write_self_mapping(plan.mapping)
            else:
                os.write(sync[1], b"u")
                if os.read(sync[0], 1) != b"m":
                    os._exit(125)
        if "user" in plan.joined:
            _join(plan.joined["user"], linux.CLONE_NEWUSER)
        try:
            linux.unshare(plan.clone_flags)
        except OSError as error:
            raise SetupError(
                125,
                f"cannot create namespaces ({error.strerror}): the kernel or the container "
                "boxwright runs in does not allow them",
            ) from error
        for kind, path in plan.joined.items():
            if kind != "user":
                _join(path, _NAMESPACE_FLAGS.get(kind, 0))
        if plan.new_network:
            linux.loopback_up()
        # the caller connects the network namespace, puts this process in its cgroup, then
        # says go: the container process starts in both. The helper opens /proc/PID/ns/net,
        # which a process that changed its credentials (joined the store's user namespace)
        # keeps from everyone without CAP_SYS_PTRACE in the initial namespace until it is
        # dumpable again.
        if plan.network is not None:
            linux.set_dumpable()
        for needed, request in ((plan.network is not None, b"n"), (bool(plan.resources), b"g")):
            if needed:
                os.write(sync[1], request)
                if os.read(sync[0], 1) != b"c":
                    os._exit(125)
        os.close(sync[0])
        os.close(sync[1])
        child = os.fork()
        if child == 0:
            linux.set_parent_death_signal(signal.SIGKILL)
            _container(plan, report, slave)
        os.write(report.fd, f"P {child}\n".encode())
        os.close(report.fd)
        if slave is not None:
            os.close(slave)
        for signum in (*FORWARDED_SIGNALS, signal.SIGWINCH):
            signal.signal(signum, lambda s, _f: os.kill(child, s))
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        _, status = os.waitpid(child, 0)
        os._exit(exit_code(status))
    except BaseException as error:
        fail_setup(report, error)


# ---------------------------------------------------------------------------------------------
# The caller


def _children() -> list[int]:
    """This process's direct children (the main thread's, from ``/proc``)."""
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(word) for word in f.read().split()]
    except (OSError, ValueError):
        return []


@contextlib.contextmanager
def forwarding_to_children() -> Iterator[None]:
    """Pass the caller's :data:`~boxwright.runtime.sigproxy.FORWARDED_SIGNALS` to its direct
    children while the block runs (main thread only).

    For a run whose runner works in a forked child (a rootless overlay container's files are
    mounted in a child's namespaces): without it, SIGTERM would end the caller and leave the
    container running. A runner working in this process installs its own handlers inside.
    """

    def forward(signum: int, _frame: object) -> None:
        for child in _children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    with handling(dict.fromkeys(FORWARDED_SIGNALS, forward)):
        yield


def _start_keeper(
    plan: Plan,
    report_w: int,
    sync: tuple[int, int],
    slave: int | None,
    streams: tuple[int | None, tuple[int, int] | None],
) -> NoReturn:
    """In the forked child: take over ``streams`` (stdin, then stdout and stderr) as its own,
    then become the keeper; the child never returns to the caller's code."""
    keep = {report_w, *sync, *([slave] if slave is not None else [])}
    try:
        _adopt_output(streams[1], keep, streams[0])
    except OSError as failure:
        Report(report_w).fail(125, f"cannot redirect the output: {failure.strerror}")
        os._exit(125)
    _keeper(plan, Report(report_w), sync, slave)
    os._exit(125)


def _reported_pid(text: str) -> int | None:
    """The container process's pid from the keeper's ``P PID`` line; ``None`` when the
    report has an error (``E`` line) or no pid."""
    pid = None
    for line in text.splitlines():
        if line.startswith("E "):
            return None
        if line.startswith("P "):
            pid = int(line[2:])
    return pid


def _adopt_output(output: tuple[int, int] | None, keep: set[int], stdin: int | None = None) -> None:
    """In the keeper: make ``stdin`` and ``output`` its (and so the container's) stdin,
    stdout and stderr, then close every other descriptor but ``keep``.

    The keeper never execs, so without this it would hold what the caller's other threads had
    open when it forked (another RUN's output pipe, whose reader would then wait for this
    run's end); runc closes them the same way, and the container inherits only its stdio.
    """
    sources = [stdin, *(output or (None, None))]
    # copies above 2 first: a dup2 below cannot clobber a source
    copies = [os.dup(fd) if fd is not None else None for fd in sources]
    for target, copy in enumerate(copies):
        if copy is not None:
            os.dup2(copy, target)
            os.close(copy)
    keep = keep | {0, 1, 2}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _open_terminal(plan: Plan, console: int | None) -> tuple[int | None, int | None]:
    """The caller's master and the container's slave of a terminal spec's pty: ``console``
    (a slave whose master the caller of :meth:`NativeRunner.run` holds: no master here), else
    a new pty sized as the caller's terminal; ``(None, None)`` without a terminal."""
    if not plan.terminal:
        return None, None
    if console is not None:
        return None, os.dup(console)
    master, slave = os.openpty()
    os.set_inheritable(slave, False)
    copy_window_size(master)  # before the process runs: its first look is right
    return master, slave


@dataclass(frozen=True)
class _Keeper:
    """The caller's side of a forked keeper: its pid, the read end of its report pipe, the
    two ends of the request channel :meth:`NativeRunner._serve` answers on, and the signal
    mask to restore once the caller's forwarding handlers are in place."""

    pid: int
    report: int
    from_child: int
    to_child: int
    blocked: set[int | signal.Signals]


def _fork_keeper(
    plan: Plan,
    master: int | None,
    slave: int | None,
    streams: tuple[int | None, tuple[int, int] | None],
) -> _Keeper:
    """Fork the keeper (:func:`_start_keeper`, given ``streams``) with every signal blocked,
    so none arrives before the caller forwards it, and close in the caller what only the
    keeper uses (its pipe ends and the terminal's ``slave``)."""
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    to_parent = os.pipe2(os.O_CLOEXEC)
    to_child = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise
    if pid == 0:
        os.close(report_r)
        if master is not None:
            os.close(master)
        os.close(to_parent[0])
        os.close(to_child[1])
        _start_keeper(plan, report_w, (to_child[0], to_parent[1]), slave, streams)
    os.close(report_w)
    os.close(to_parent[1])
    os.close(to_child[0])
    if slave is not None:
        os.close(slave)
    return _Keeper(pid, report_r, to_parent[0], to_child[1], blocked)


def _undo(helper: list[Any]) -> None:
    """Stop the network helper and remove the cgroup :meth:`NativeRunner._serve` made."""
    for running in helper:
        if isinstance(running, NetworkHelper):
            running.stop()
        else:
            remove_cgroup(running)


class NativeRunner:
    """Runs a runtime spec with namespaces made by boxwright itself (no runtime needed)."""

    name = "native"

    # runner.Runner's run(): its signature repeats the protocol's.
    def run(
        self,
        spec: dict[str, Any],
        *,
        output: tuple[int, int] | None = None,
        stdin: int | None = None,
        started: Callable[[int], None] | None = None,
        console: int | None = None,
    ) -> int:
        """Run the spec's process to its end and return its exit code (128+N for signal N).

        ``started`` is called with the container process's pid (in the caller's PID
        namespace) once it has executed its command. ``console`` (a terminal spec): a pty
        slave the caller holds the master of, made the container's terminal; nothing is
        relayed then.

        ``output`` (``(stdout, stderr)`` descriptors) receives the process's output instead of
        the caller's streams, and the process reads ``stdin`` instead of the caller's; with a
        terminal spec, ``output`` is ignored and ``stdin`` is what is relayed to the terminal.
        """
        plan = _plan(spec)
        if plan.terminal:
            output = None
        master, slave = _open_terminal(plan, console)
        keeper = _fork_keeper(plan, master, slave, (None if plan.terminal else stdin, output))
        helper: list[Any] = []  # the network helper and the cgroup, undone at the end
        try:
            with forwarding_signals(keeper.pid, master):
                signal.pthread_sigmask(signal.SIG_SETMASK, keeper.blocked)
                self._serve(keeper.pid, plan, keeper.from_child, keeper.to_child, helper)
                text = read_all(keeper.report).decode(errors="replace")  # to the exec
                container = _reported_pid(text)
                if started is not None and container is not None:
                    started(container)
                if master is not None:
                    relay_terminal(master, stdin)
                _, status = os.waitpid(keeper.pid, 0)
        finally:
            _undo(helper)
            for fd in (keeper.report, keeper.from_child, keeper.to_child, master):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        raise_reported(text)
        return exit_code(status)

    @staticmethod
    def _serve(pid: int, plan: Plan, from_child: int, to_child: int, helper: list[Any]) -> None:
        """Answer the keeper until it closes the channel: ``u`` asks for the ID mapping of its
        new user namespace (written with helpers), ``n`` for its network namespace to be
        connected, ``g`` to be put in a cgroup with the spec's limits (the helper started
        and the cgroup made are put in ``helper``, to be undone when the run ends)."""
        while request := os.read(from_child, 1):
            try:
                if request == b"u" and plan.mapping is not None:
                    write_mapping_with_helpers(pid, plan.mapping)
                    os.write(to_child, b"m")
                elif request == b"n" and plan.network is not None:
                    own = plan.mapping is not None or "user" in plan.joined
                    helper.append(start_helper(plan.network, pid, own_user_namespace=own))
                    os.write(to_child, b"c")
                elif request == b"g" and plan.resources:
                    parent = check_delegation(plan.resources)
                    group = make_cgroup(parent, f"boxwright-{pid}", plan.resources)
                    helper.append(group)
                    enter_cgroup(group, pid)
                    os.write(to_child, b"c")
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise


__all__ = ["NativeRunner", "forwarding_signals", "forwarding_to_children"]
