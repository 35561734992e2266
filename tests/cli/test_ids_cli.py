"""Invalid uids and gids on the command line: ``run -u``, an image's ``User``, ``container
run --user``, ``container config --user``, ``container copy/add --chown`` and a
Containerfile's ``COPY --chown``. Each is exit 1 and one exact line; the largest valid ID is
what the process runs as. ``(uid_t)-1`` (4294967295) must never mean root."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

RANGE = "is out of range: IDs are 0 to 4294967294"


def bw(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``boxwright --root ROOT ARGS...`` in a subprocess (a container writes to real fds)."""
    env = {k: v for k, v in os.environ.items() if k != "BOXWRIGHT_ROOT"}
    return subprocess.run(
        [sys.executable, "-m", "boxwright", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _put(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def with_user(peer_layout: Path, dest: Path, user: str) -> str:
    """A copy of the peer layout whose image config says ``User: user``; its reference."""
    layout = shutil.copytree(peer_layout, dest, symlinks=True)
    index = json.loads((layout / "index.json").read_bytes())
    entry = index["manifests"][0]
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / entry["digest"].split(":")[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    config["config"]["User"] = user
    manifest["config"]["digest"], manifest["config"]["size"] = _put(
        layout, json.dumps(config).encode()
    )
    entry["digest"], entry["size"] = _put(layout, json.dumps(manifest).encode())
    (layout / "index.json").write_text(json.dumps(index))
    return f"oci:{layout}:latest"


def test_run_user_minus_one_is_one_line(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    done = bw(root, "run", "--rm", "-u", "4294967295", peer_images.refs["oci"], "id -u")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Error: invalid user '4294967295': uid 4294967295 {RANGE}\n"
    ran = bw(root, "run", "--rm", "-u", "4294967294:4294967294", peer_images.refs["oci"],
             "echo $(id -u):$(id -g)")  # fmt: skip
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "4294967294:4294967294\n", "")


@pytest.mark.parametrize(
    ("user", "stderr"),
    [
        (
            "4294967295:4294967295",
            f"Error: invalid image User '4294967295:4294967295': uid 4294967295 {RANGE}\n",
        ),
        (
            "0:-1",
            "Error: invalid image User '0:-1': '-1' is neither a gid (0 to 4294967294) "
            "nor a group name\n",
        ),
    ],
)
def test_an_image_user_of_uid_minus_one_is_refused(
    peer_images: Any, tmp_path: Path, user: str, stderr: str
) -> None:
    ref = with_user(peer_images.oci, tmp_path / "layout", user)
    root = tmp_path / "store"
    done = bw(root, "run", "--rm", ref, "id -u")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", stderr)
    unpacked = bw(root, "unpack", "--bundle", ref, str(tmp_path / "bundle"))
    assert unpacked.returncode == 1
    assert [line for line in unpacked.stderr.splitlines(True) if "done" not in line] == [stderr]
    assert not (tmp_path / "bundle").exists()


def test_container_commands_refuse_invalid_ids(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    source = tmp_path / "f.txt"
    source.write_text("f\n")
    assert bw(root, "container", "from", "--name", "w", peer_images.refs["oci"]).returncode == 0
    cases = [
        (
            ("run", "--user", "4294967295", "w", "--", "id", "-u"),
            f"invalid user '4294967295': uid 4294967295 {RANGE}",
        ),
        (
            ("config", "--user", "4294967295:0", "w"),
            f"invalid --user '4294967295:0': uid 4294967295 {RANGE}",
        ),
        (
            ("copy", "--chown", "0:4294967295", "w", str(source), "/f"),
            f"invalid --chown '0:4294967295': gid 4294967295 {RANGE}",
        ),
        (
            ("add", "--chown", "4294967295", "w", str(source), "/f"),
            f"invalid --chown '4294967295': uid 4294967295 {RANGE}",
        ),
        (
            ("copy", "--chown", "+1000", "w", str(source), "/f"),
            "invalid --chown '+1000': '+1000' is neither a uid (0 to 4294967294) nor a user name",
        ),
    ]
    for args, message in cases:
        done = bw(root, "container", *args)
        assert (done.returncode, done.stdout, done.stderr) == (1, "", f"Error: {message}\n")
    inspected = json.loads(bw(root, "container", "inspect", "w").stdout)
    assert inspected["config"]["config"]["User"] == "0:0"
    assert bw(root, "container", "run", "w", "--", "sh", "-c", "test -e /f").returncode == 1


def test_build_copy_chown_minus_one_is_one_line(peer_images: Any, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Containerfile").write_text(
        f"FROM {peer_images.refs['oci']}\nCOPY --chown=4294967295:4294967295 a.txt /a.txt\n"
    )
    done = bw(tmp_path / "store", "build", "-q", str(ctx))
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.endswith(
        f"Containerfile:2: COPY: invalid --chown '4294967295:4294967295': uid 4294967295 {RANGE}"
    ), done.stderr
    assert "Traceback" not in done.stderr
