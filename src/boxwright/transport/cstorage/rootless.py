"""Writing layers into an unprivileged user's containers-storage store, as rootless podman
keeps it.

Rootless podman opens its store inside a user namespace where container ID 0 is the user
and IDs 1..N are the user's ``/etc/subuid``/``/etc/subgid`` ranges (set with the setuid
helpers ``newuidmap``/``newgidmap``); the store's own mapping is then the identity, so its
layers carry no ``uidmap``/``gidmap``, and a file a layer gives to uid 1000 belongs on disk
to the 1000th subordinate ID. The destination unpacks a layer in a forked child inside such a
namespace, as its root (:func:`boxwright.rootless.forked.call_in_namespace` with
:func:`user_mapping`), so that the layer gets the owners the tar names and lands on disk
exactly as podman's would. A user without ranges (or without the helpers)
gets a :class:`~boxwright.errors.TransportError` naming what is missing.
"""

from __future__ import annotations

import os
from typing import TypeVar

from boxwright.errors import TransportError
from boxwright.rootless.ranges import (
    SUBGID_FILE,
    SUBUID_FILE,
    IDMapping,
    helpers,
    in_initial_user_namespace,
    ranges_mapping,
    subordinate_ranges,
    user_name,
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
    return not in_initial_user_namespace()


__all__ = ["in_user_namespace", "user_mapping"]
