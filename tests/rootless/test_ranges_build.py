"""Building as an unprivileged user in the two rootless modes, against root's build.

A user with ``/etc/subuid`` and ``/etc/subgid`` ranges gets a ranges store: the store lives in
a user namespace with podman's mapping, so a static busybox ``chown``, busybox ``adduser``,
``USER 1234`` in RUN and a setuid binary all work for real, and the store's files are owned on
disk by the subordinate IDs. The committed layers carry the container IDs: the same build
gives the same image ID as root's, and as the single-ID mode's where that mode can build it.

On a Debian base (glibc programs) the single mode builds the same Containerfile through
fakeroot: coreutils' ``chown``, shadow's ``useradd`` and a ``USER 1234`` step are recorded in
the side record, and all three modes give one image ID.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

import boxwright.build.executor  # noqa: F401 - loaded before the child drops privileges
from boxwright.build.context import BuildOptions
from boxwright.build.executor import build
from boxwright.rootless.namespace import read_store_mode
from boxwright.rootless.ranges import subordinate_ranges
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.runtime import preload_boxwright
from boxwright_testing.users import User, as_user, chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make test users")

BASE = "localhost/bbx:1"
APP_ID = 1000

# What every mode can build: COPY --chown, RUN as root writing files, a setuid mode.
PORTABLE = """\
FROM localhost/bbx:1
COPY --chown=1234:1234 f /srv/f
RUN mkdir -p /opt/tools && cp /bin/busybox /opt/tools/su-bb && chmod 4755 /opt/tools/su-bb
RUN echo made > /opt/made
"""

# What needs real IDs with static binaries: chown, adduser, USER 1234 writing files.
OWNERS = """\
FROM localhost/bbx:1
RUN mkdir -p /srv/data && chown 1234:1234 /srv/data
RUN adduser -D app && mkdir /data && chown app /data
COPY --chown=1234:1234 f /srv/f
RUN mkdir -p /opt/tools && cp /bin/busybox /opt/tools/su-bb && chmod 4755 /opt/tools/su-bb
USER 1234
RUN touch /srv/data/by-1234 && id > /srv/data/id
"""


def _context(where: Path, containerfile: str) -> Path:
    ctx = where / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(containerfile)
    (ctx / "f").write_text("file\n")
    return ctx


def _build(root: str, layout: str, ctx: str, mode: str | None, base: str) -> dict[str, Any]:
    """Build ``ctx`` (timestamp 0) on ``layout``'s image (tag ``1``, named ``base``) into the
    store at ``root``; the image ID, the store's mode and the built layers' tar members."""
    if mode is not None:
        os.environ["BOXWRIGHT_USERNS"] = mode
    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=base)
    result = build(BuildOptions(context=Path(ctx), timestamp=0, tags=["localhost/out:1"]), store)
    record = store.images.get(result.image_id)
    layers: list[dict[str, tuple[int, int, int]]] = []
    for digest in record.layers[1:]:
        with tarfile.open(store.layout.blob_path(digest)) as tar:
            layers.append({m.name: (m.uid, m.gid, m.mode) for m in tar.getmembers()})
    found = read_store_mode(Path(root))
    return {
        "image": result.image_id,
        "mode": None if found is None else found.mode,
        "layers": layers,
        "euid": os.geteuid(),
    }


def _as(
    user: User | None, where: Path, layout: Path, ctx: Path, mode: str | None, base: str = BASE
) -> Any:
    root = where / f"store-{mode}"
    args = (str(root), str(layout), str(ctx), mode, base)
    if user is None:
        return _build(*args)
    chown_tree(where, user)
    preload_boxwright()
    return as_user(user, _build, *args)


def _disk_owners(root: Path) -> set[tuple[int, int]]:
    """The owners of the store's snapshot files as the host sees them."""
    return {
        (st.st_uid, st.st_gid)
        for dirpath, dirnames, filenames in os.walk(root / "snapshots")
        for st in [os.lstat(os.path.join(dirpath, n)) for n in [*dirnames, *filenames]]
    }


def test_ranges_build_keeps_container_ids_and_root_digest(
    bbx_layout: Path, ranges_user: User, work: Path
) -> None:
    as_root = _as(None, work / "root", bbx_layout, _context(_mk(work / "root"), OWNERS), None)
    ranged = _as(ranges_user, work / "user", bbx_layout, _context(_mk(work / "user"), OWNERS), None)
    assert ranged["mode"] == "ranges"
    assert as_root["mode"] == "root"
    assert ranged["image"] == as_root["image"]
    assert ranged["layers"] == as_root["layers"]
    first, second, copied, tools, by_user = ranged["layers"]
    assert first["srv/data"][:2] == (1234, 1234)
    assert second["data"][:2] == (APP_ID, 0)
    assert second["home/app"][:2] == (APP_ID, APP_ID)
    assert copied["srv/f"][:2] == (1234, 1234)
    assert stat.S_IMODE(tools["opt/tools/su-bb"][2]) == 0o4755
    assert by_user["srv/data/by-1234"][:2] == (1234, 0)  # a uid with no passwd entry: gid 0
    start = subordinate_ranges(Path("/etc/subuid"), ranges_user.name, ranges_user.uid)[0][0]
    owners = _disk_owners(work / "user" / "store-None")
    assert (start + 1233, start + 1233) in owners
    assert (ranges_user.uid, ranges_user.gid) in owners


def _mk(path: Path) -> Path:
    path.mkdir()
    return path


def test_every_mode_gives_root_digest_for_what_single_can_build(
    bbx_layout: Path, ranges_user: User, plain_user: User, work: Path
) -> None:
    builds = {}
    for name, user, mode in (
        ("root", None, None),
        ("ranges", ranges_user, "auto"),
        ("forced-single", ranges_user, "single"),
        ("single", plain_user, None),
    ):
        where = _mk(work / name)
        builds[name] = _as(user, where, bbx_layout, _context(where, PORTABLE), mode)
    assert {name: b["mode"] for name, b in builds.items()} == {
        "root": "root",
        "ranges": "ranges",
        "forced-single": "single",
        "single": "single",
    }
    assert len({b["image"] for b in builds.values()}) == 1
    copied, tools, made = builds["single"]["layers"]
    assert copied["srv/f"][:2] == (1234, 1234)
    assert stat.S_IMODE(tools["opt/tools/su-bb"][2]) == 0o4755
    assert made["opt/made"][:2] == (0, 0)


# Debian's own tools on real IDs: coreutils' chown, shadow's useradd (which writes /etc/shadow
# as root:shadow 0640 and chowns the home it fills from /etc/skel), a file written by USER
# 1234, COPY --chown, and a setuid program of the base rewritten in place (its mode kept).
DEBIAN = """\
FROM localhost/debian:1
RUN mkdir -p /srv/data && chown 1234:1234 /srv/data
RUN useradd -m app && mkdir /data && chown app /data
COPY --chown=1234:1234 f /srv/f
RUN touch /usr/bin/passwd && cp -p /usr/bin/passwd /usr/local/bin/passwd-kept
USER 1234
RUN touch /srv/data/by-1234 && id -u > /srv/data/id
"""


def test_debian_build_gives_one_digest_in_every_mode(
    debian_layout: Path, ranges_user: User, plain_user: User, work: Path
) -> None:
    builds = {}
    for name, user in (("root", None), ("ranges", ranges_user), ("single", plain_user)):
        where = _mk(work / name)
        ctx = _context(where, DEBIAN)
        builds[name] = _as(user, where, debian_layout, ctx, None, "localhost/debian:1")
    assert {name: b["mode"] for name, b in builds.items()} == {
        "root": "root",
        "ranges": "ranges",
        "single": "single",
    }
    assert builds["ranges"]["image"] == builds["root"]["image"]
    assert builds["single"]["image"] == builds["root"]["image"]
    chowned, added, copied, setuid, by_user = builds["ranges"]["layers"]
    assert chowned["srv/data"][:2] == (1234, 1234)
    assert added["home/app"][:2] == (APP_ID, APP_ID)
    assert added["home/app/.bashrc"][:2] == (APP_ID, APP_ID)
    assert added["data"][:2] == (APP_ID, 0)
    assert added["etc/shadow"] == (0, 42, 0o640)
    assert copied["srv/f"][:2] == (1234, 1234)
    assert setuid["usr/bin/passwd"] == (0, 0, 0o4755)
    assert setuid["usr/local/bin/passwd-kept"] == (0, 0, 0o4755)
    assert by_user["srv/data/by-1234"][:2] == (1234, 0)
    start = subordinate_ranges(Path("/etc/subuid"), ranges_user.name, ranges_user.uid)[0][0]
    assert (start + APP_ID - 1, start + APP_ID - 1) in _disk_owners(work / "ranges" / "store-None")
