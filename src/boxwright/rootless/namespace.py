"""The store's user namespace: which rootless mode a store uses, and entering it.

An unprivileged user's store is kept in one of two modes (``docs/rootless.md``):

* **ranges**: the user has ``/etc/subuid`` and ``/etc/subgid`` ranges and usable
  ``newuidmap``/``newgidmap``. The store lives in a user namespace with podman's full mapping
  (container 0 = the user, 1.. = the ranges), so its files are owned on disk by the mapped
  IDs, as in podman's rootless storage, and every ID of the range works with a real
  ``chown`` or ``setuid``. The process *joins* that namespace (and its mount namespace) once,
  at its start: there it is uid 0 with every capability, so the store's code takes its root
  paths (real ``chown``, overlay mounted in place, runs with no user namespace of their own).
* **single**: no ranges or no helpers. Nothing is joined; each operation that needs it makes a
  single-ID namespace (``0`` → the user) and owners other than 0 go to the side record
  (:mod:`boxwright.store.userns`, :mod:`boxwright.runtime.ownership`).

Root's store has mode ``root``. A store remembers its mode in ``R/userns.json`` (a store
without the file was made before modes existed: single for a user, root for root); the mode
is chosen when the store is created, by ``$BOXWRIGHT_USERNS`` (or the global ``--userns``
option): ``auto`` (ranges when available, else single), ``ranges`` or ``single``. Asking an
existing store for another mode is a :class:`~boxwright.errors.StoreError` naming the command
that switches it (``boxwright system migrate --userns MODE``).

The namespace is kept by a **pause process**, as podman keeps its own: a process started the
first time it is needed, which does nothing but hold the user and mount namespaces; its pid,
start time and namespace inode are in ``pause.json`` of the runtime directory
(``$XDG_RUNTIME_DIR/boxwright``). Joining it is two ``setns`` calls; mounts made inside (a
``container mount``) stay for the next command. :func:`unshare_with_mapping` is the other
way, a new namespace with the maps written by the helpers each time (measured against the
pause process in ``docs/performance.md``).

Joining needs a single-threaded process: the command line joins first thing;
a program using the library calls :func:`enter_store_namespace` before it starts threads (the
store does it on first use of its snapshots or containers when it can).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from boxwright._atomic import replace_file
from boxwright._flock import flocked
from boxwright.config.paths import (
    ROOTLESS_UID_ENV,
    host_uid,
    is_rootless,
    runtime_dir,
    store_root,
)
from boxwright.errors import BoxwrightError, StoreError, UsageError
from boxwright.rootless.libc import (
    CLONE_NEWNS,
    CLONE_NEWUSER,
    MS_REC,
    MS_SLAVE,
    mount,
    set_dumpable,
    set_process_name,
    setns,
    unshare,
)
from boxwright.rootless.ranges import (
    SUBGID_FILE,
    SUBUID_FILE,
    IDMapping,
    IDRange,
    helpers,
    ranges_mapping,
    read_mapping,
    subordinate_ranges,
    user_name,
    write_mapping_with_helpers,
)

USERNS_ENV = "BOXWRIGHT_USERNS"
MODES = ("auto", "ranges", "single")
"""What ``$BOXWRIGHT_USERNS`` and ``--userns`` accept."""
RECORD_FILE = "userns.json"
PAUSE_FILE = "pause.json"
MIGRATE_HINT = "boxwright system migrate --userns {mode}"


@dataclass(frozen=True)
class StoreMode:
    """A store's mode (``root``, ``ranges`` or ``single``) and, for ranges, its mapping."""

    mode: str
    mapping: IDMapping | None = None

    def to_json(self) -> bytes:
        """The ``R/userns.json`` document."""
        doc: dict[str, object] = {"mode": self.mode}
        if self.mapping is not None:
            doc["uidmap"] = [[r.container_id, r.host_id, r.size] for r in self.mapping.uids]
            doc["gidmap"] = [[r.container_id, r.host_id, r.size] for r in self.mapping.gids]
        return json.dumps(doc).encode() + b"\n"


def _ranges(rows: object) -> tuple[IDRange, ...]:
    if not isinstance(rows, list):
        raise ValueError("not a list of ranges")
    return tuple(IDRange(int(a), int(b), int(c)) for a, b, c in rows)


def read_store_mode(root: Path) -> StoreMode | None:
    """The mode the store at ``root`` was created in; None when there is no store yet."""
    record = root / RECORD_FILE
    try:
        doc = json.loads(record.read_bytes())
    except FileNotFoundError:
        if not (root / "boxwright-store").is_file():
            return None
        return StoreMode("single" if is_rootless() else "root")
    except (OSError, ValueError) as e:
        raise StoreError(f"{record} is unreadable or damaged: {e}") from None
    try:
        mode = doc["mode"]
        if mode not in ("root", "ranges", "single"):
            raise ValueError(f"unknown mode {mode!r}")
        mapping = None
        if mode == "ranges":
            mapping = IDMapping(_ranges(doc["uidmap"]), _ranges(doc["gidmap"]))
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"{record} is damaged: {e}") from None
    return StoreMode(mode, mapping)


def write_store_mode(root: Path, mode: StoreMode) -> None:
    """Record ``mode`` for the store at ``root`` (atomically)."""
    replace_file(root / RECORD_FILE, mode.to_json(), 0o600)


def requested_mode(option: str | None = None) -> str:
    """``option``, else ``$BOXWRIGHT_USERNS``, else ``auto``; checked against :data:`MODES`."""
    value = option or os.environ.get(USERNS_ENV, "").strip() or "auto"
    if value not in MODES:
        raise UsageError(
            f"invalid user namespace mode {value!r} (from {'--userns' if option else USERNS_ENV}):"
            f" choose one of {', '.join(MODES)}"
        )
    return value


def _unavailable_reason() -> str:
    uid = host_uid()
    name = user_name(uid)
    missing = [
        str(path) for path in (SUBUID_FILE, SUBGID_FILE) if not subordinate_ranges(path, name, uid)
    ]
    if missing:
        return f"{' and '.join(missing)} give {name} no range"
    if helpers() is None:
        return "newuidmap and newgidmap are not installed setuid (the uidmap package)"
    return "the ranges cannot be used"


def choose_mode(root: Path, requested: str = "auto") -> StoreMode:
    """The mode for the store at ``root``: its recorded one, else the one ``requested``.

    A recorded mode other than an explicit ``requested`` one, a ranges store whose user no
    longer has the same ranges, and ``ranges`` asked where it is not available are each a
    :class:`StoreError` saying what to do.
    """
    if not is_rootless():
        return StoreMode("root")
    recorded = read_store_mode(root)
    if recorded is not None:
        if requested not in ("auto", recorded.mode):
            raise StoreError(
                f"the store at {root} was created in {recorded.mode} mode; switch it with "
                f"`{MIGRATE_HINT.format(mode=requested)}` (its images stay, its working "
                f"containers go), or use another --root"
            )
        if recorded.mode == "ranges":
            available = _available_mapping()
            if available != recorded.mapping:
                why = (
                    _unavailable_reason()
                    if available is None
                    else "the subordinate ranges changed since"
                )
                raise StoreError(
                    f"the store at {root} keeps its files in a user namespace with the "
                    f"ranges of {user_name(host_uid())} ({why}); restore them, or switch "
                    f"the store with `{MIGRATE_HINT.format(mode='single')}`"
                )
        return recorded
    if requested == "single":
        return StoreMode("single")
    mapping = _available_mapping()
    if mapping is None:
        if requested == "ranges":
            raise StoreError(f"ranges mode is not available: {_unavailable_reason()}")
        return StoreMode("single")
    return StoreMode("ranges", mapping)


def _available_mapping() -> IDMapping | None:
    """The full mapping of the caller (by its host uid and gid), or None."""
    if os.geteuid() == 0:  # joined already: the mapping is the one we are in
        current = read_mapping()
        return current if len(current.uids) > 1 else None
    return ranges_mapping()


# -- the process's state -------------------------------------------------------------------------

_state: dict[str, StoreMode] = {}


def current_mode(root: Path | None = None) -> StoreMode:
    """The mode of the store at ``root`` for this process: the one entered, else the choice."""
    root = Path(root or store_root()).absolute()
    found = _state.get(str(root))
    return found if found is not None else choose_mode(root, requested_mode())


def inside_ranges_namespace(mapping: IDMapping) -> bool:
    """Whether this process is uid 0 of a user namespace with exactly ``mapping``."""
    if os.geteuid() != 0:
        return False
    try:
        return read_mapping() == mapping
    except OSError:
        return False


def enter_store_namespace(root: Path | str | None = None, requested: str | None = None) -> str:
    """Join the user namespace of the store at ``root`` when its mode is ranges; return the mode.

    Nothing happens for root or single mode, or when this process is inside already. Needs a
    single-threaded process (:class:`StoreError` otherwise).
    """
    where = Path(root or store_root()).absolute()
    mode = choose_mode(where, requested_mode(requested))
    if mode.mode == "ranges" and mode.mapping is not None:
        if not inside_ranges_namespace(mode.mapping):
            uid = os.geteuid()
            _join_pause(mode.mapping)
            os.environ[ROOTLESS_UID_ENV] = str(uid)
    elif mode.mode == "single" and os.geteuid() == 0 and is_rootless() and not _single_id():
        raise StoreError(
            f"the store at {where} is in single mode, and this process is in the user "
            "namespace of a ranges store: use one store per process"
        )
    _state[str(where)] = mode
    return mode.mode


def _single_id() -> bool:
    """Whether this process is in a user namespace mapping one ID (``boxwright unshare`` of a
    single-mode store), not a ranges store's."""
    try:
        current = read_mapping()
    except OSError:
        return False
    return len(current.uids) == 1 and current.uids[0].size == 1


def ensure_store_namespace(root: Path) -> None:
    """Before the store's snapshots or containers are used: be in the store's namespace.

    Joins it when the process can (single-threaded), else :class:`StoreError` saying to call
    :func:`enter_store_namespace` first.
    """
    where = Path(root).absolute()
    mode = _state.get(str(where)) or choose_mode(where, requested_mode())
    if mode.mode != "ranges" or mode.mapping is None:
        _state.setdefault(str(where), mode)
        return
    if inside_ranges_namespace(mode.mapping):
        _state[str(where)] = mode
        return
    if _threads() != 1:
        raise StoreError(
            f"the store at {where} keeps its files in a user namespace (ranges mode): call "
            "boxwright.rootless.enter_store_namespace() before starting threads"
        )
    enter_store_namespace(where)


def _threads() -> int:
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return threading.active_count()


# -- the pause process ---------------------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    """``path`` made (0700) or checked: a directory of ours, not a link, private."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as e:
        raise StoreError(f"cannot use {path} for the user namespace's pause file: {e}") from None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise StoreError(
            f"{path} is not a private directory of {user_name(os.geteuid())}: refusing to keep "
            "the user namespace's pause file there (set $XDG_RUNTIME_DIR)"
        )
    return path


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    return text[text.rindex(b")") + 2 :].split()[19].decode()


@dataclass(frozen=True)
class _Pause:
    pid: int
    start: str
    userns: int


def _read_pause(path: Path) -> _Pause | None:
    try:
        doc = json.loads(path.read_bytes())
        return _Pause(int(doc["pid"]), str(doc["start"]), int(doc["userns"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _open_namespaces(pause: _Pause, mapping: IDMapping) -> tuple[int, int] | None:
    """Descriptors of the pause process's user and mount namespaces, when it is still the
    process recorded (pid, start time, namespace inode) and maps ``mapping``."""
    try:
        user_fd = os.open(f"/proc/{pause.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if os.fstat(user_fd).st_ino != pause.userns or _start_time(pause.pid) != pause.start:
            os.close(user_fd)
            return None
        if read_mapping(pause.pid) != mapping:
            os.close(user_fd)
            with contextlib.suppress(OSError):
                os.kill(pause.pid, signal.SIGKILL)
            return None
        mnt_fd = os.open(f"/proc/{pause.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        os.close(user_fd)
        return None
    return user_fd, mnt_fd


def _join_pause(mapping: IDMapping) -> None:
    """Join the pause process's namespaces, starting it first when there is none."""
    if _threads() != 1:
        raise StoreError(
            "cannot join the store's user namespace from a process running threads: call "
            "boxwright.rootless.enter_store_namespace() first thing"
        )
    where = _private_dir(runtime_dir())
    pause_file = where / PAUSE_FILE
    pause = _read_pause(pause_file)
    fds = None if pause is None else _open_namespaces(pause, mapping)
    if fds is None:
        with flocked(where / "pause.lock"):
            pause = _read_pause(pause_file)
            fds = None if pause is None else _open_namespaces(pause, mapping)
            if fds is None:
                pause = start_pause_process(mapping)
                doc = {"pid": pause.pid, "start": pause.start, "userns": pause.userns}
                replace_file(pause_file, json.dumps(doc).encode() + b"\n", 0o600)
                fds = _open_namespaces(pause, mapping)
                if fds is None:
                    raise StoreError("the user namespace's pause process ended at once")
    _setns_both(*fds)


def _setns_both(user_fd: int, mnt_fd: int) -> None:
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    try:
        setns(user_fd, CLONE_NEWUSER)
        setns(mnt_fd, CLONE_NEWNS)
    except OSError as e:
        raise StoreError(f"cannot join the store's user namespace: {e.strerror}") from None
    finally:
        os.close(user_fd)
        os.close(mnt_fd)
    try:
        os.chdir(cwd or "/")
    except OSError:
        os.chdir("/")


def _new_namespace_child(ready_w: int, go_r: int) -> None:
    """In a forked child: unshare, wait for the maps, make mounts slaves (never returns)."""
    status = 1
    try:
        set_dumpable()
        unshare(CLONE_NEWUSER | CLONE_NEWNS)
        os.write(ready_w, b"u")
        if os.read(go_r, 1) == b"m":
            mount(None, "/", None, MS_REC | MS_SLAVE, None)
            status = 0
    except BaseException:
        status = 1
    finally:
        if status:
            os._exit(status)


def start_pause_process(mapping: IDMapping) -> _Pause:
    """Start a process that holds a new user namespace with ``mapping`` and a mount namespace
    whose mounts receive the host's (slaves); it outlives this one."""
    sleep = shutil.which("sleep")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the pause process: never returns
        try:
            os.close(ready_r)
            os.close(go_w)
            os.setsid()
            _new_namespace_child(ready_w, go_r)
            set_process_name(b"boxwright-pause")
            os.write(ready_w, b"r")
            os.chdir("/")
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 65536)
            for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_IGN)
            if sleep is not None:
                os.execv(sleep, [sleep, "infinity"])
            while True:
                signal.pause()
        finally:
            os._exit(1)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"u":
            raise StoreError("cannot make a user namespace for the store (unshare refused)")
        try:
            write_mapping_with_helpers(pid, mapping)
        except BoxwrightError:
            os.kill(pid, signal.SIGKILL)
            raise
        os.write(go_w, b"m")
        if os.read(ready_r, 1) != b"r":
            raise StoreError("the user namespace's pause process failed to start")
    finally:
        os.close(ready_r)
        os.close(go_w)
    userns = os.stat(f"/proc/{pid}/ns/user").st_ino
    return _Pause(pid, _start_time(pid) or "", userns)


def stop_pause_process() -> bool:
    """Stop this user's pause process (mounts made in its namespace go with it); whether one
    was running."""
    where = runtime_dir()
    pause = _read_pause(where / PAUSE_FILE)
    if pause is None:
        return False
    found = False
    try:
        fd = os.open(f"/proc/{pause.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_ino == pause.userns and _start_time(pause.pid) == pause.start:
                os.kill(pause.pid, signal.SIGKILL)
                found = True
        finally:
            os.close(fd)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        (where / PAUSE_FILE).unlink()
    return found


def unshare_with_mapping(mapping: IDMapping) -> None:
    """Move this (single-threaded) process into a new user and mount namespace with
    ``mapping``, written by ``newuidmap``/``newgidmap`` from a forked helper.

    The other way to enter the store's namespace than joining the pause process: each process
    gets a namespace of its own (mounts do not outlive it).
    """
    me = os.getpid()
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: waits for the unshare, writes the maps, reports
        status = 1
        try:
            os.close(ready_w)
            os.close(done_r)
            if os.read(ready_r, 1) == b"u":
                write_mapping_with_helpers(me, mapping)
                os.write(done_w, b"m")
                status = 0
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(ready_r)
    os.close(done_w)
    try:
        set_dumpable()
        unshare(CLONE_NEWUSER | CLONE_NEWNS)
        os.write(ready_w, b"u")
        answer = os.read(done_r, 1)
    finally:
        os.close(ready_w)
        os.close(done_r)
        os.waitpid(pid, 0)
    if answer != b"m":
        raise StoreError("newuidmap/newgidmap could not map the store's user namespace")
    mount(None, "/", None, MS_REC | MS_SLAVE, None)


__all__ = [
    "MODES",
    "RECORD_FILE",
    "USERNS_ENV",
    "StoreMode",
    "choose_mode",
    "current_mode",
    "ensure_store_namespace",
    "enter_store_namespace",
    "inside_ranges_namespace",
    "read_store_mode",
    "requested_mode",
    "start_pause_process",
    "stop_pause_process",
    "unshare_with_mapping",
    "write_store_mode",
]
