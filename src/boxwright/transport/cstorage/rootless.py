"""Writing layers into an unprivileged user's containers-storage store, as rootless podman
keeps it.

Rootless podman opens its store inside a user namespace where container ID 0 is the user
and IDs 1..N are the user's ``/etc/subuid``/``/etc/subgid`` ranges (set with the setuid
helpers ``newuidmap``/``newgidmap``); the store's own mapping is then the identity, so its
layers carry no ``uidmap``/``gidmap``, and a file a layer gives to uid 1000 belongs on disk
to the 1000th subordinate ID. :func:`run_mapped` runs a function in a forked child inside
such a namespace, as its root, so that the layer is unpacked with the owners the tar names
and lands on disk exactly as podman's would. A user without ranges (or without the helpers)
gets a :class:`~boxwright.errors.TransportError` naming what is missing.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from boxwright.errors import BoxwrightError, RunError, TransportError
from boxwright.rootless import libc
from boxwright.rootless.ranges import (
    SUBGID_FILE,
    SUBUID_FILE,
    IDMapping,
    helpers,
    ranges_mapping,
    subordinate_ranges,
    user_name,
    write_mapping_with_helpers,
)

T = TypeVar("T")


def user_mapping(where: str) -> IDMapping:
    """The mapping rootless podman gives this user (:func:`~boxwright.rootless.ranges.
    ranges_mapping`); :class:`TransportError` naming what is missing when there is none."""
    uid = os.geteuid()
    name = user_name(uid)
    mapping = ranges_mapping(uid, need_helpers=False)
    if mapping is None:
        missing = [
            str(path)
            for path in (SUBUID_FILE, SUBGID_FILE)
            if not subordinate_ranges(path, name, uid)
        ]
        raise TransportError(
            f"cannot write into {where} as {name}: {' and '.join(missing)} give {name} no "
            "subordinate IDs, which a rootless store's layers are owned by (add a range, "
            f"e.g. usermod --add-subuids 200000-265535 --add-subgids 200000-265535 {name})"
        )
    if helpers() is None:
        raise TransportError(
            f"cannot write into {where} as {name}: newuidmap and newgidmap are not installed "
            "setuid (the uidmap package), and a rootless store's layers need them"
        )
    return mapping


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace that maps less than the whole ID space
    (where ``trusted.`` xattrs cannot be set)."""
    try:
        text = Path("/proc/self/uid_map").read_text()
    except OSError:
        return False
    return text.split() != ["0", "0", "4294967295"]


# store.userns.run_in_namespace forks and answers through a pipe the same way; they stay
# apart because the namespaces differ (a mapping written by newuidmap from the parent here, a
# single-ID map the child writes itself there) and so do their errors (TransportError here,
# StoreError there, with the class re-created by name).
def run_mapped(mapping: IDMapping, fn: Callable[[], T]) -> T:
    """``fn()`` in a forked child that is root of a user namespace with ``mapping``; its
    result (pickled) or its error comes back. The caller's locks stay held by the caller."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(ready_r)
            os.close(go_w)
            os.close(out_r)
            try:
                libc.unshare(libc.CLONE_NEWUSER)
                os.write(ready_w, b"1")
                if os.read(go_r, 1) != b"1":
                    raise TransportError("the user namespace was not mapped")
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                outcome: tuple[str, object] = ("ok", fn())
            except BoxwrightError as error:
                outcome = ("raise", error)
            except BaseException as error:
                outcome = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
            try:
                data = pickle.dumps(outcome)
            except Exception:
                data = pickle.dumps(("error", str(outcome[1])))
            view = memoryview(data)
            while view:
                view = view[os.write(out_w, view) :]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    os.close(out_w)
    try:
        if os.read(ready_r, 1) == b"1":
            try:
                write_mapping_with_helpers(pid, mapping)
            except RunError as error:
                raise TransportError(str(error)) from None
            os.write(go_w, b"1")
        chunks = []
        while chunk := os.read(out_r, 1 << 16):
            chunks.append(chunk)
    finally:
        for fd in (ready_r, go_w, out_r):
            os.close(fd)
        os.waitpid(pid, 0)
    if not chunks:
        raise TransportError("the user namespace helper died without a result")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "ok":
        return value  # type: ignore[no-any-return]
    if kind == "raise" and isinstance(value, BoxwrightError):
        raise value
    raise TransportError(f"writing in the user namespace failed: {value}")


__all__ = ["in_user_namespace", "run_mapped", "user_mapping"]
