"""Shared by the executor, cache and CLI build tests: a busybox base image and build helpers.

The base image (``localhost/bb:1``) is made once per session from files (busybox-static with
its applets as links, /etc/passwd and /etc/group) with the Builder, saved to an OCI layout,
and pulled into each test's fresh store (a second or two of work, no network). The fixtures
``base_layout`` and ``bstore`` reach every test through the plugin list of ``tests/conftest.py``,
as does ``auth_registry`` (a registry with htpasswd auth for :data:`AUTH_USER`, for the
build's pulls and pushes with credentials).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxwright.build.context import BuildEvent, BuildOptions, BuildResult
from boxwright.build.executor import build
from boxwright.store.store import Store
from boxwright_testing.runtime import glibc_rootfs

AUTH_USER, AUTH_PASSWORD = "builder", "s3cret-pw"
BUSYBOX = "/bin/busybox"
BASE = "localhost/bb:1"
APPLETS = ("sh", "ls", "cat", "echo", "mkdir", "rm", "touch", "chmod", "test", "true", "false")


def _base_rootfs(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for name in APPLETS:
        (root / "bin" / name).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nalice:x:1000:\n")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)


@pytest.fixture(scope="session")
def base_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout holding the busybox base image under the tag ``1``."""
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"{BUSYBOX} is not installed (busybox-static)")
    from boxwright.build import Builder
    from boxwright.store.pullpush import push

    work = tmp_path_factory.mktemp("build-base")
    _base_rootfs(work / "rootfs")
    store = Store(work / "store")
    with Builder.from_image(None, store=store) as builder:
        builder.copy([work / "rootfs"], "/")
        builder.config(env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], created_by="base")
        builder.commit(BASE, timestamp=0)
    push(BASE, f"oci:{work / 'layout'}:1", store=store)
    return work / "layout"


@pytest.fixture
def bstore(tmp_path: Path, base_layout: Path) -> Iterator[Store]:
    """A fresh store with the base image as ``localhost/bb:1``."""
    from boxwright.store.pullpush import pull

    store = Store(tmp_path / "store")
    pull(f"oci:{base_layout}:1", store=store, name=BASE)
    yield store


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's docker-registry over plain HTTP with htpasswd Basic auth (AUTH_USER)."""
    import bcrypt

    from boxwright_testing.registry_servers import REGISTRY_BINARY, start_registry

    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")
    work = tmp_path_factory.mktemp("build-auth-registry")
    hashed = bcrypt.hashpw(AUTH_PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (work / "htpasswd").write_text(f"{AUTH_USER}:{hashed}\n")
    server = start_registry(work, "auth", htpasswd=work / "htpasswd")
    yield server
    server.stop()


def write_context(ctx: Path, containerfile: str, files: dict[str, str] | None = None) -> Path:
    """A build context: the Containerfile and ``files`` (relative path → text)."""
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Containerfile").write_text(containerfile)
    for rel, text in (files or {}).items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ctx


def run_build(
    store: Store, ctx: Path, events: list[BuildEvent] | None = None, **options: Any
) -> BuildResult:
    """Build ``ctx`` into ``store`` with ``options``, collecting the events."""
    sink: list[BuildEvent] = events if events is not None else []
    return build(BuildOptions(context=ctx, on_event=sink.append, **options), store)


def config_of(store: Store, image: str) -> dict[str, Any]:
    """The image config JSON of a stored image."""
    import json

    data: dict[str, Any] = json.loads(store.images.config(store.images.get(image)).raw)
    return data


def tree_of(store: Store, image: str) -> dict[str, tuple[str, int, int, int, str]]:
    """Every path of the image's merged filesystem: (type, mode, uid, gid, content or target).

    Directories' content is ``""``; the busybox binary is summarized by its size.
    """
    record = store.containers.create(image)
    try:
        root = store.containers.mount(record.id)
        out: dict[str, tuple[str, int, int, int, str]] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath) / name
                st = path.lstat()
                rel = str(path.relative_to(root))
                kind, data = "?", ""
                if stat.S_ISLNK(st.st_mode):
                    kind, data = "l", os.readlink(path)
                elif stat.S_ISDIR(st.st_mode):
                    kind = "d"
                elif stat.S_ISREG(st.st_mode):
                    kind = "f"
                    data = f"<{st.st_size}>" if st.st_size > 4096 else path.read_text()
                perms = stat.S_IMODE(st.st_mode)
                out[rel] = (kind, perms, st.st_uid, st.st_gid, data)
        return out
    finally:
        store.containers.remove(record.id)


def history_of(store: Store, image: str) -> list[tuple[str, bool]]:
    """(created_by, empty_layer) of every history entry."""
    return [
        (h.get("created_by", ""), bool(h.get("empty_layer", False)))
        for h in config_of(store, image)["history"]
    ]


def glibc_context(ctx: Path) -> Path:
    """A build context ``ctx`` holding ``rootfs/``, a glibc root file system whose programs
    fakeroot can serve (skips when fakeroot is not installed); returns ``ctx``."""
    from boxwright.runtime.ownership import fakeroot_tools

    if fakeroot_tools() is None:
        pytest.skip("fakeroot is not installed")
    glibc_rootfs(ctx / "rootfs")
    return ctx
