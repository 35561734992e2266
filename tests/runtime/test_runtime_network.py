"""Container networks as root and as unprivileged users (with subordinate IDs, and with a
single-ID namespace): ports published through slirp4netns and pasta to a Python HTTP server
in the container, the host's loopback reached through each helper, ``ns:`` joins, ``-v :U``,
and named volumes kept across containers of an unprivileged user's store.

The rootfs is the busybox one of ``conftest.py`` with ``/lib`` and ``/lib64`` linking into
``/usr``, where the host's ``/usr`` is bound read-only: ``python3`` is the host's. Runs go
through :func:`boxwright_testing.runtime.in_child` (a forked child, as the user).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import RunError
from boxwright.runtime import Mount, RunOptions, run_in_rootfs
from boxwright.runtime.idmap import subordinate_ranges
from boxwright.runtime.network import (
    HOST_NAME,
    PortMapping,
    network_settings,
    parse_publish,
    resolve_network,
)
from boxwright_testing.netimage import HTTP_SERVER, needs_helper
from boxwright_testing.registry_servers import free_port
from boxwright_testing.runtime import image_config, in_child, preload_boxwright
from boxwright_testing.users import User, chown_tree


@pytest.fixture(params=["root", "mapped", "single"])
def who(request: pytest.FixtureRequest) -> User | None:
    """The caller: root, a user with /etc/subuid ranges, a user without."""
    if request.param == "root":
        return None
    name = "mapped_user" if request.param == "mapped" else "single_user"
    user: User = request.getfixturevalue(name)
    return user


@pytest.fixture
def py_rootfs(rootfs_template: Path, user_dir: Path, who: User | None) -> Path:
    """The busybox rootfs, ready for the host's /usr, owned by the caller."""
    dest = user_dir / "rootfs"
    shutil.copytree(rootfs_template, dest, symlinks=True)
    (dest / "usr").mkdir()
    (dest / "lib").symlink_to("usr/lib")
    (dest / "lib64").symlink_to("usr/lib64")
    if who is not None:
        chown_tree(dest, who)
    return dest


def _options(script: str, **more: Any) -> RunOptions:
    return RunOptions(
        args=("sh", "-c", script), volumes=(Mount("/usr", "/usr", read_only=True),), **more
    )


@pytest.mark.parametrize("helper", ["slirp4netns", "pasta"])
def test_published_port_reaches_the_server_in_the_container(
    py_rootfs: Path, who: User | None, helper: str
) -> None:
    needs_helper(helper)
    port = free_port()
    (py_rootfs / "srv.py").write_text(HTTP_SERVER)
    options = _options("python3 /srv.py", network=helper, publish=(f"127.0.0.1:{port}:8000",))
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(in_child(run_in_rootfs, py_rootfs, image_config(), options, user=who))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    body = b""
    deadline = time.monotonic() + 30
    while not body and time.monotonic() < deadline and thread.is_alive():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as answer:
                body = answer.read()
        except OSError:
            time.sleep(0.1)
    thread.join(60)
    assert outcome == [0]
    assert body == b"from the container /ping"


@pytest.mark.parametrize(
    "network", ["slirp4netns:allow_host_loopback=true", "pasta:--map-gw", "slirp4netns"]
)
def test_outbound_to_a_server_on_the_hosts_loopback(
    py_rootfs: Path, who: User | None, host_server: int, network: str
) -> None:
    needs_helper(network.partition(":")[0])
    fetch = (
        "import urllib.request as u\n"
        f"print(u.urlopen('http://{HOST_NAME}:{host_server}/out', timeout=5).read().decode())\n"
    )
    (py_rootfs / "fetch.py").write_text(fetch)
    script = "python3 /fetch.py > /tmp/out 2>/dev/null || echo failed > /tmp/out"
    code = in_child(run_in_rootfs, py_rootfs, image_config(), _options(script, network=network),
                    user=who)  # fmt: skip
    assert code == 0
    # plain slirp4netns keeps the host's loopback closed, and names no host
    expected = "failed\n" if network == "slirp4netns" else "host says hi /out\n"
    assert (py_rootfs / "tmp" / "out").read_text() == expected


def test_joining_a_network_namespace_by_path(py_rootfs: Path, who: User | None) -> None:
    """``ns:/proc/PID/ns/net`` of a process of the caller's: the container is in it (and, for
    an unprivileged caller, in the user namespace that owns it)."""

    def run() -> tuple[int, str]:
        import subprocess

        holder = subprocess.Popen(["unshare", "--user", "--map-root-user", "--net", "sleep", "60"])
        try:
            path = f"/proc/{holder.pid}/ns/net"
            while os.readlink(path) == os.readlink("/proc/self/ns/net"):
                time.sleep(0.02)
            options = _options("readlink /proc/self/ns/net > /tmp/ns", network=f"ns:{path}")
            code = run_in_rootfs(py_rootfs, image_config(), options)
            return code, os.readlink(path)
        finally:
            holder.kill()
            holder.wait()

    code, inode = in_child(run, user=who)
    assert code == 0
    assert (py_rootfs / "tmp" / "ns").read_text() == inode + "\n"


def test_volume_u_gives_the_source_to_the_container_user(
    py_rootfs: Path, user_dir: Path, who: User | None
) -> None:
    if who is not None and not subordinate_ranges(Path("/etc/subuid"), who.name, who.uid):
        pytest.skip("a single-ID namespace holds no uid 1000")
    shared = user_dir / "shared"
    (shared / "sub").mkdir(parents=True)
    (shared / "sub" / "f").write_text("x")
    if who is not None:
        chown_tree(shared, who)
    options = RunOptions(
        args=("sh", "-c", "stat -c %u:%g /data /data/sub/f > /tmp/owners; touch /data/made"),
        user="alice",
        volumes=(Mount(str(shared), "/data", chown=True),),
        network="none",
    )
    assert in_child(run_in_rootfs, py_rootfs, image_config(), options, user=who) == 0
    assert (py_rootfs / "tmp" / "owners").read_text() == "1000:1000\n1000:1000\n"
    if who is None:
        expected = (1000, 1000)
    else:
        start = subordinate_ranges(Path("/etc/subuid"), who.name, who.uid)[0][0]
        gstart = subordinate_ranges(Path("/etc/subgid"), who.name, who.uid)[0][0]
        expected = (start + 999, gstart + 999)
    for path in (shared, shared / "sub" / "f", shared / "made"):
        assert (path.stat().st_uid, path.stat().st_gid) == expected, path


def test_named_volume_is_kept_across_containers(user_dir: Path, who: User | None) -> None:
    from boxwright.runtime.container import run_image
    from boxwright.store.store import Store
    from boxwright_testing.netimage import make_run_image

    ref = make_run_image(user_dir / "layout", compress=False)
    if who is not None:
        chown_tree(user_dir, who)
    preload_boxwright()

    def runs() -> tuple[int, int, str, list[str]]:
        store = Store(user_dir / "store")
        write = RunOptions(args=("sh", "-c", "echo kept > /data/note"),
                           volumes=(Mount("notes", "/data"),), network="none")  # fmt: skip
        first = run_image(ref, write, store=store, remove=True).exit_code
        read = RunOptions(args=("sh", "-c", "cat /data/note > /data/seen"),
                          volumes=(Mount("notes", "/data"),), network="none")  # fmt: skip
        second = run_image(ref, read, store=store, remove=True).exit_code
        volume = store.volumes.get("notes")
        seen = Path(volume.mountpoint, "seen").read_text()
        return first, second, seen, store.volumes.prune([])

    first, second, seen, pruned = in_child(runs, user=who)
    assert (first, second, seen, pruned) == (0, 0, "kept\n", ["notes"])


def test_port_forms() -> None:
    assert parse_publish("8080:80") == (PortMapping("", 8080, 80, "tcp"),)
    assert parse_publish("127.0.0.1:8080:80/udp") == (PortMapping("127.0.0.1", 8080, 80, "udp"),)
    assert parse_publish("[::1]:8080:80") == (PortMapping("::1", 8080, 80, "tcp"),)
    assert parse_publish("127.0.0.1::80") == (PortMapping("127.0.0.1", 0, 80, "tcp"),)
    assert parse_publish("8000-8001:80-81") == (
        PortMapping("", 8000, 80, "tcp"),
        PortMapping("", 8001, 81, "tcp"),
    )
    assert str(PortMapping("::1", 8080, 80, "tcp")) == "[::1]:8080:80/tcp"
    assert PortMapping("", 8080, 80, "tcp").describe() == "0.0.0.0:8080->80/tcp"


def test_publish_all_gives_each_exposed_port_a_free_host_port() -> None:
    needs_helper("slirp4netns")
    options = RunOptions(network="slirp4netns", publish=("9999:8000",), publish_all=True)
    ports = network_settings(options, ["53/udp", "8000/tcp", "9000"]).ports
    assert [(p.container_port, p.protocol) for p in ports] == [(8000, "tcp"), (53, "udp"),
                                                                (9000, "tcp")]  # fmt: skip
    assert ports[0].host_port == 9999
    assert all(1024 <= p.host_port <= 65535 for p in ports[1:])


def test_unknown_helper_option_and_missing_helper() -> None:
    from boxwright.errors import UsageError

    with pytest.raises(UsageError, match=r"^--network slirp4netns: unknown option 'port'$"):
        resolve_network("slirp4netns:port=1")
    saved = os.environ["PATH"]
    os.environ["PATH"] = "/nonexistent"
    try:
        with pytest.raises(RunError) as missing:
            resolve_network("pasta")
    finally:
        os.environ["PATH"] = saved
    assert str(missing.value) == "--network pasta: pasta is not installed (Debian package passt)"
    assert missing.value.exit_code == 125


@pytest.mark.parametrize("helper", ["slirp4netns", "pasta"])
def test_container_of_the_store_publishes_a_port(
    user_dir: Path, who: User | None, helper: str
) -> None:
    """``run_image`` (what ``boxwright run`` calls): for an unprivileged user the container's
    files may be mounted in a user namespace of the store's, where the helper starts too."""
    needs_helper(helper)
    from boxwright.runtime.container import run_image
    from boxwright.store.store import Store
    from boxwright_testing.netimage import make_run_image

    ref = make_run_image(user_dir / "layout", compress=False)
    if who is not None:
        chown_tree(user_dir, who)
    preload_boxwright()
    port = free_port()
    options = RunOptions(
        args=("python3", "-c", HTTP_SERVER),
        volumes=(Mount("/usr", "/usr", read_only=True),),
        network=helper,
        publish=(f"127.0.0.1:{port}:8000",),
    )

    def run() -> int:
        return run_image(ref, options, store=Store(user_dir / "store"), remove=True).exit_code

    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(in_child(run, user=who)))
    thread.start()
    body = b""
    deadline = time.monotonic() + 30
    while not body and time.monotonic() < deadline and thread.is_alive():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/store", timeout=5) as answer:
                body = answer.read()
        except OSError:
            time.sleep(0.1)
    thread.join(60)
    assert (outcome, body) == ([0], b"from the container /store")
