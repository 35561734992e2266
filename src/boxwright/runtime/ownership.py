"""Keeping the ownership a run asks for when its user namespace maps a single ID.

With no ``CAP_SETUID``, no ``newuidmap`` and no ``/etc/subuid`` (an unprivileged CI pod),
a run's user namespace maps only container ID 0 onto the caller: ``chown 1000 f`` fails with
``EINVAL`` and no process can become uid 1000. buildah gives up there. boxwright runs such a
step under Debian's **fakeroot** instead, with its state kept across the step and the commit:

1. before the step, ``faked-sysv`` (fakeroot's daemon, run by boxwright outside the container)
   is loaded with the owners, modes and device numbers the container's side record
   (:class:`~boxwright.layer.ownership.OwnershipRecord`) already holds, keyed by the device
   and inode each recorded path has now;
2. the step runs with ``libfakeroot-sysv.so`` bound into the container and preloaded
   (``FAKEROOTDONTTRYCHOWN=1``, so ``chown`` only records); it shares the caller's IPC
   namespace, where the daemon's message queue lives. ``USER`` is faked the same way
   (``FAKEROOTUID`` and friends: ``id -u`` says 1000) while the process really runs as 0;
3. after the step the daemon saves its state, the rootfs is walked once to turn its
   ``(device, inode)`` keys back into paths, and every owner, mode and device it holds goes
   into the side record, together with the step user's owner for the files the step made.
   The commit writes the side record's owners into the layer. A step run as root that
   changed no owner, mode or device (the saved state is the seeded one, and every seeded
   path still has its inode and link count) leaves the record as it is, with no walk.

fakeroot works where the programs are dynamically linked against glibc. When it cannot
(fakeroot not installed, a rootfs without glibc's loader, statically linked programs), the
run is not changed and a warning says that ownership changes cannot be kept; state entries
that match no path of the rootfs (a volume's files, a file the step removed) are named in a
warning as having lost their owner.
"""

from __future__ import annotations

import contextlib
import glob
import os
import select
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from boxwright._log import Logger
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord
from boxwright.oci.config import ImageConfig
from boxwright.runtime.idmap import single_id_run
from boxwright.runtime.spec import RunOptions, bind_mount
from boxwright.unpack.users import ExecUser, resolve_user

log = Logger("boxwright.runtime")

FAKED = "faked-sysv"
LIBRARY = "libfakeroot-sysv.so"
#: Where the preload library appears in the container (removed after the run).
LIBRARY_IN_CONTAINER = "/.boxwright-fakeroot/" + LIBRARY
_LIBRARY_DIRS = ("/usr/lib/*/libfakeroot", "/usr/lib/libfakeroot", "/usr/lib64/libfakeroot")
_LOADERS = ("lib*/ld-linux*.so*", "usr/lib*/ld-linux*.so*", "lib/*/ld-linux*.so*")
_Key = tuple[int, int]


def fakeroot_tools() -> tuple[str, str] | None:
    """The host's ``faked-sysv`` and ``libfakeroot-sysv.so``, when Debian's fakeroot is here."""
    faked = shutil.which(FAKED)
    if faked is None:
        return None
    for pattern in _LIBRARY_DIRS:
        for directory in sorted(glob.glob(pattern)):
            library = os.path.join(directory, LIBRARY)
            if os.path.isfile(library):
                return faked, library
    return None


def _has_glibc_loader(rootfs: Path) -> bool:
    return any(glob.glob(os.path.join(rootfs, pattern)) for pattern in _LOADERS)


def _walk(rootfs: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every path under ``rootfs`` (relative, no leading slash) with its lstat."""
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(rootfs, rel) if rel else rootfs) as entries:
                for entry in entries:
                    path = f"{rel}/{entry.name}" if rel else entry.name
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    yield path, st
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(path)
        except OSError:
            continue


@dataclass
class _StateEntry:
    mode: int
    uid: int
    gid: int
    rdev: int


def _parse_state(text: str) -> dict[_Key, _StateEntry]:
    """fakeroot's save file: ``dev=HEX,ino=N,mode=OCT,uid=N,gid=N,nlink=N,rdev=N`` lines."""
    found: dict[_Key, _StateEntry] = {}
    for line in text.splitlines():
        fields = dict(part.partition("=")[::2] for part in line.strip().split(","))
        try:
            key = (int(fields["dev"], 16), int(fields["ino"]))
            found[key] = _StateEntry(
                int(fields["mode"], 8), int(fields["uid"]), int(fields["gid"]), int(fields["rdev"])
            )
        except (KeyError, ValueError):
            continue
    return found


def _state_line(st: os.stat_result, entry: OwnershipEntry) -> str:
    mode = entry.mode if entry.mode is not None else st.st_mode
    rdev = os.makedev(*entry.rdev) if entry.rdev is not None else st.st_rdev
    return (
        f"dev={st.st_dev:x},ino={st.st_ino},mode={mode:o},uid={entry.uid},gid={entry.gid},"
        f"nlink={st.st_nlink},rdev={rdev}\n"
    )


@dataclass
class KeptOwnership:
    """What :func:`keeping_ownership` changes in a run (nothing when it is not needed)."""

    env: tuple[str, ...] = ()
    mounts: tuple[dict[str, object], ...] = ()
    user: str | None = None
    share_ipc: bool = False
    lost: list[str] = field(default_factory=list)
    unavailable: str | None = None
    """Why ownership changes could not be kept in this run (None: they were, or needed no
    help); the caller warns with it only when the run failed (:func:`warn_if_failed`)."""

    def warn_if_failed(self, exit_code: int) -> None:
        """A run that failed where ownership changes could not be kept: say why, since a
        failing ``chown`` is the likely cause. A run that succeeded needs no word."""
        if exit_code != 0 and self.unavailable is not None:
            log.warning(
                "this run's user namespace maps only ID 0 and %s: ownership changes (chown, "
                "USER) cannot be kept and fail inside; subordinate ID ranges for the user "
                "(ranges mode, docs/rootless.md) make them work",
                self.unavailable,
            )

    def options(self, options: RunOptions) -> RunOptions:
        """``options`` with the preload library, its environment and the faked user."""
        if not self.env:
            return options
        return replace(
            options,
            env=(*options.env, *self.env),
            extra_mounts=(*options.extra_mounts, *self.mounts),
            user=self.user if self.user is not None else options.user,
            ipc="host" if self.share_ipc else options.ipc,
        )


class _Faked:
    """A running ``faked-sysv`` loaded with a state file; :meth:`stop` saves it."""

    def __init__(self, faked: str, state: Path) -> None:
        with state.open("rb") as seed:
            answer = subprocess.run(
                [faked, "--load", "--save-file", str(state)],
                stdin=seed,
                capture_output=True,
                check=False,
                timeout=30,
            )
        key, _, pid = answer.stdout.decode(errors="replace").strip().partition(":")
        if answer.returncode != 0 or not key.isdigit() or not pid.isdigit():
            detail = answer.stderr.decode(errors="replace").strip()
            raise OSError(f"{faked} did not start: {detail or answer.stdout!r}")
        self.key, self.pid = key, int(pid)

    def stop(self) -> None:
        """Ask the daemon to save its state and wait (up to 10 s) until it has ended.

        The daemon is not our child (it detached): its end is seen through a pidfd, which
        is readable once it has exited, whenever its new parent reaps it (``kill(pid, 0)``
        still finds a zombie until then, a second or more on a busy machine).
        """
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return
        try:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.poll(10_000)
        finally:
            os.close(pidfd)


@contextlib.contextmanager
def keeping_ownership(
    rootfs: Path, record: OwnershipRecord, config: ImageConfig, user: str | None
) -> Iterator[KeptOwnership]:
    """Run the block's run under fakeroot when its namespace maps a single ID (module doc).

    ``config`` and ``user`` (the run's ``--user``, else the image's) give the step's user.
    Afterwards the side ``record`` holds the owners the step asked for.
    """
    if not single_id_run():
        yield KeptOwnership()
        return
    tools = fakeroot_tools()
    if tools is None or not _has_glibc_loader(rootfs):
        why = "fakeroot is not installed" if tools is None else "the rootfs has no glibc loader"
        yield KeptOwnership(unavailable=why)
        return
    faked_path, library = tools
    wanted = resolve_user(
        rootfs,
        config.config.user if user is None else user,
        "image User" if user is None else "user",
    )
    work = Path(tempfile.mkdtemp(prefix="boxwright-fakeroot-"))
    state = work / "state"
    seeded = _seed_state(rootfs, record, state)
    seed_entries = _parse_state(state.read_bytes().decode(errors="replace"))
    before: set[_Key] | None = None
    if wanted.uid or wanted.gid:
        before = {(st.st_dev, st.st_ino) for _, st in _walk(rootfs)}
    faked = _Faked(faked_path, state)
    kept = _under_fakeroot(wanted, faked.key, library)
    try:
        yield kept
    finally:
        faked.stop()
        try:
            entries = _parse_state(state.read_bytes().decode(errors="replace"))
            if before is not None or entries != seed_entries or _moved(rootfs, seeded):
                found = _record_state(rootfs, record, entries, before, (wanted.uid, wanted.gid))
                kept.lost = [
                    seeded[key].path if key in seeded else f"inode {key[1]}" for key in found
                ]
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if kept.lost:
        log.warning(
            "ownership asked for %d path(s) outside the container's files could not be kept "
            "(a volume, or removed by the step): %s",
            len(kept.lost),
            ", ".join(kept.lost[:10]),
        )


@dataclass(frozen=True)
class _Seeded:
    """A recorded path given to faked: where it was and how many links it had."""

    path: str
    nlink: int


def _moved(rootfs: Path, seeded: dict[_Key, _Seeded]) -> bool:
    """Whether the step renamed, removed or linked a seeded path (its inode is no longer
    there, or has another link count): only a walk of the rootfs then finds its paths."""
    for key, seed in seeded.items():
        try:
            st = os.lstat(os.path.join(rootfs, seed.path))
        except OSError:
            return True
        if (st.st_dev, st.st_ino) != key or st.st_nlink != seed.nlink:
            return True
    return False


def _seed_state(rootfs: Path, record: OwnershipRecord, state: Path) -> dict[_Key, _Seeded]:
    """Write faked's state file from the side ``record`` (so the step sees the owners earlier
    steps kept) and return the path of each seeded inode, to name what the step loses."""
    seeded: dict[_Key, _Seeded] = {}
    lines = []
    for path, entry in record.items():
        with contextlib.suppress(OSError):
            st = os.lstat(os.path.join(rootfs, path))
            seeded[(st.st_dev, st.st_ino)] = _Seeded(path, st.st_nlink)
            lines.append(_state_line(st, entry))
    state.write_bytes("".join(lines).encode())  # utf-8: built in, no codec to import here
    return seeded


def _under_fakeroot(wanted: ExecUser, key: str, library: str) -> KeptOwnership:
    """What the run needs to go through faked ``key``: libfakeroot preloaded from a read-only
    bind mount, the step's user as fakeroot's IDs, and the run as real root."""
    ids = [
        f"FAKEROOT{role}{kind}ID={number}"
        for kind, number in (("U", wanted.uid), ("G", wanted.gid))
        for role in ("", "E", "S", "F")
    ]
    return KeptOwnership(
        env=(
            f"HOME={wanted.home}",
            f"LD_PRELOAD={LIBRARY_IN_CONTAINER}",
            f"FAKEROOTKEY={key}",
            "FAKEROOTDONTTRYCHOWN=1",
            "FAKED_MODE=unknown-is-root",
            *ids,
        ),
        mounts=(bind_mount(library, LIBRARY_IN_CONTAINER, read_only=True),),
        user="0:0",
        share_ipc=True,
    )


def _mark_changed(rootfs: Path, path: str, st: os.stat_result) -> None:
    """Make a path the step only chowned (faked: nothing changed on disk) count as changed
    for the layer diff, which compares stats: setting its times to what they are updates its
    ctime (and copies it up in an overlay)."""
    with contextlib.suppress(OSError):
        times = (st.st_atime_ns, st.st_mtime_ns)
        os.utime(rootfs / path, ns=times, follow_symlinks=False)


def _record_state(
    rootfs: Path,
    record: OwnershipRecord,
    entries: dict[_Key, _StateEntry],
    before: set[_Key] | None,
    owner: tuple[int, int],
) -> list[_Key]:
    """Move faked's saved state (``entries``) into ``record``; return the keys no path
    matched.

    ``before`` (the keys present before a step run as a faked non-root ``owner``) tells the
    files the step made: they get ``owner`` unless the step chowned them.
    """
    matched: set[_Key] = set()
    for path, st in _walk(rootfs):
        key = (st.st_dev, st.st_ino)
        fake = entries.get(key)
        if fake is not None:
            matched.add(key)
            mode = fake.mode if fake.mode != st.st_mode else None
            is_device = stat.S_ISCHR(fake.mode) or stat.S_ISBLK(fake.mode)
            rdev = (os.major(fake.rdev), os.minor(fake.rdev)) if is_device else None
            old = record.get(path)
            xattrs = old.xattrs if old is not None else {}
            entry = OwnershipEntry(fake.uid, fake.gid, mode, rdev, xattrs)
            if entry != (old if old is not None else OwnershipEntry(0, 0)):
                _mark_changed(rootfs, path, st)
            record.set(path, entry)
        elif before is not None and key not in before:
            record.set(path, OwnershipEntry(*owner))
    return [key for key in entries if key not in matched]


__all__ = ["KeptOwnership", "fakeroot_tools", "keeping_ownership"]
