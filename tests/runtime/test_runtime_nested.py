"""boxwright inside a container started by boxwright itself, the way a CI pod runs builds.

The outer container runs as an unprivileged user with no /etc/subuid range, so its user
namespace maps a single ID: inside, boxwright is root with no CAP_SETUID over any other ID,
no usable newuidmap and no subordinate IDs. Its rootfs is made from the host's own Python:
the host's ``/usr`` and the test's interpreter prefix are bound in (read-only), and boxwright
comes from this checkout through ``PYTHONPATH``. Inside, the boxwright CLI builds an image
step by step (container from, copy, run with chown/mknod/chmod and as USER alice, commit,
copy to an OCI layout), and the test checks the owners in the committed layer.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

import boxwright
from boxwright.rootless import libc
from boxwright.runtime.ownership import fakeroot_tools
from boxwright.runtime.runner import run_in_rootfs
from boxwright.runtime.spec import RunOptions
from boxwright_testing.runtime import (
    OWNERSHIP_STEP,
    check_owned_layer,
    glibc_rootfs,
    image_config,
    preload_boxwright,
)
from boxwright_testing.users import User, chown_tree, drop_privileges, owned_dir

SRC = Path(boxwright.__file__).resolve().parents[1]
# A virtualenv's prefix holds its site-packages; its base prefix the interpreter and stdlib.
PREFIXES = tuple(
    dict.fromkeys(
        p
        for p in (Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve())
        if not str(p).startswith("/usr")
    )
)
SCRIPT = """set -e
export BOXWRIGHT_ROOT=/store PYTHONPATH=/src HOME=/tmp
bw() {{ {python} -m boxwright "$@"; }}
c=$(bw container from -q scratch | tail -n1)
bw container copy "$c" /mini/ / >/dev/null
bw container run "$c" -- sh -c '{step}'
bw container run --user alice "$c" -- sh -c 'touch /home/alice/made'
bw container commit -q "$c" nested:1 >/dev/null
bw copy nested:1 oci:/out:latest
echo built
"""


def _outer_rootfs(work: Path) -> Path:
    outer = work / "outer"
    for name in ("usr", "etc", "tmp", "store", "out", "src", "mini", "root"):
        (outer / name).mkdir(parents=True)
    for prefix in PREFIXES:
        (outer / prefix.relative_to("/")).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        (outer / name).symlink_to(f"usr/{name}")
    (outer / "tmp").chmod(0o1777)
    (outer / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (outer / "etc" / "group").write_text("root:x:0:\n")
    script = SCRIPT.format(python=Path(sys.executable).absolute(), step=OWNERSHIP_STEP)
    (outer / "build.sh").write_text(script)
    return outer


def _run_outer(outer: Path, mini: Path, log: Path, user: User) -> int:
    """In a forked child: bind the host's parts into the outer rootfs (a private mount
    namespace), become ``user``, run the build script in a boxwright container."""
    pid = os.fork()
    if pid == 0:
        code = 125
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            libc.unshare(libc.CLONE_NEWNS)
            libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
            for source, inside in (
                (Path("/usr"), "usr"),
                *((prefix, str(prefix.relative_to("/"))) for prefix in PREFIXES),
                (SRC, "src"),
                (mini, "mini"),
            ):
                libc.mount(str(source), outer / inside, None, libc.MS_BIND | libc.MS_REC)
            drop_privileges(user)
            config = image_config(Env=["PATH=/usr/local/bin:/usr/bin:/bin"])
            options = RunOptions(args=("/bin/sh", "/build.sh"))
            code = run_in_rootfs(outer, config, options)
        except BaseException as error:
            print(f"outer container failed: {type(error).__name__}: {error}", flush=True)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _top_layer(layout: Path) -> dict[str, tarfile.TarInfo]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    top = manifest["layers"][-1]["digest"].split(":", 1)[1]
    with tarfile.open(layout / "blobs" / "sha256" / top) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def test_boxwright_builds_inside_an_unprivileged_boxwright_container(
    unprivileged_user: User,
) -> None:
    if fakeroot_tools() is None:
        pytest.skip("Debian's fakeroot is not installed")
    if not PREFIXES:
        pytest.skip("the interpreter lives in /usr, which the outer container binds anyway")
    with owned_dir(unprivileged_user) as work:
        outer = _outer_rootfs(work)
        mini = glibc_rootfs(work / "mini")
        chown_tree(outer, unprivileged_user)
        chown_tree(mini, unprivileged_user)
        preload_boxwright()
        log = work / "log"
        code = _run_outer(outer, mini, log, unprivileged_user)
        output = log.read_text()
        assert code == 0, output
        assert output.splitlines()[-1] == "built", output
        check_owned_layer(_top_layer(outer / "out"))
        shutil.rmtree(outer / "store", ignore_errors=True)
