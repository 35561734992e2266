"""``boxwright run`` (podman run) and ``boxwright container run`` (buildah run), end to end.

The commands run as subprocesses: a container writes to the real file descriptors, which
click's test runner does not capture. Each test has its own store under ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from boxwright.oci.digest import Digest
from boxwright.store.store import Store
from boxwright_testing.cliproc import run_cli as bw


def ok(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = bw(root, *args)
    assert done.returncode == 0, done.stderr
    return done


def test_run_uses_the_images_entrypoint_and_cmd_and_rm_removes(
    peer_images: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    done = ok(root, "run", "--rm", peer_images.refs["oci"])
    assert done.stdout == "hello world\n"
    assert ok(root, "container", "ls", "-q").stdout == ""


RUN_LEAVES_UNLOADED = (
    "boxwright.layer.apply",
    "boxwright.layer.streams",
    "boxwright.runtime.emulation",
    "boxwright.runtime.ownership",
    "boxwright.store.commit",
    "boxwright.store.snapshotapply",
)
"""What a run of a stored image of this machine's platform, as root, never uses: the commit
machinery, the layer applier and readers (its snapshots exist), fakeroot's ownership keeping
(the container maps more than one ID) and the binfmt checks (it runs natively)."""


def test_a_run_of_a_stored_image_loads_no_commit_apply_or_emulation(
    peer_images: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ok(root, "run", "--rm", peer_images.refs["oci"], "true")  # stores the image and snapshots
    image = ok(root, "images", "-q", "--no-trunc").stdout.strip()
    probe = (
        "import sys\n"
        "from boxwright.cli.main import main\n"
        "try:\n"
        f"    main(['--root', {str(root)!r}, 'run', '--rm', {image!r}, 'true'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        f"print(sorted(m for m in {RUN_LEAVES_UNLOADED!r} if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "BOXWRIGHT_ROOT"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "[]\n", "")
    assert ok(root, "container", "ls", "-q").stdout == ""


def test_run_command_replaces_cmd_exit_code_passes_and_container_stays(
    peer_images: Any, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    done = bw(root, "run", "--name", "kept", peer_images.refs["oci"], "echo out; exit 7")
    assert (done.returncode, done.stdout) == (7, "out\n")
    listed = json.loads(ok(root, "container", "ls", "--format", "json").stdout)
    assert [c["name"] for c in listed] == ["kept"]


def test_run_entrypoint_env_workdir_user_volume(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("from the host\n")
    script = 'echo "$MODE|$GREETING|$(pwd)|$(id -u):$(id -g)|$HOME"; cat /mnt/note'
    done = ok(
        root, "run", "--rm", "--entrypoint", '["/bin/sh", "-c"]',
        "-e", "MODE=test", "-w", "/tmp", "-u", "alice", "-v", f"{shared}:/mnt:ro",
        peer_images.refs["oci"], script,
    )  # fmt: skip
    assert done.stdout == "test|hello world|/tmp|1000:1000|/home/alice\nfrom the host\n"
    plain = ok(root, "run", "--rm", "--entrypoint", "/bin/busybox", peer_images.refs["oci"],
               "echo", "plain")  # fmt: skip
    assert plain.stdout == "plain\n"


def test_run_not_found_is_127_with_one_line(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    done = bw(root, "run", "--rm", "--entrypoint", "", peer_images.refs["oci"], "nothere")
    assert done.returncode == 127
    assert done.stderr == "Error: executable file `nothere` not found in $PATH\n"
    missing = bw(root, "run", "--rm", "no-such-image:1")
    assert missing.returncode == 1 and missing.stderr.startswith("Error: ")


def test_run_network_none_has_only_loopback(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    done = ok(root, "run", "--rm", "--network", "none", peer_images.refs["oci"],
              "ls /sys/class/net")  # fmt: skip
    assert done.stdout.split() == ["lo"]


def _layer_members(store: Store, name: str) -> dict[str, tarfile.TarInfo]:
    manifest = json.loads(store.images.manifest(store.images.get(name)))
    top = Digest.parse(manifest["layers"][-1]["digest"])
    with tarfile.open(store.blobs.path(top)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def test_container_run_persists_into_the_next_commit(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    ok(root, "container", "from", "--name", "w", peer_images.refs["oci"])
    script = "echo new > /data/new && chown 1000:1000 /data/new && rm /data/c.txt && echo $X"
    done = bw(root, "container", "run", "-e", "X=set", "w", "--", "sh", "-c", script)
    assert (done.returncode, done.stdout) == (0, "set\n")
    failed = bw(root, "container", "run", "w", "--", "sh", "-c", "exit 9")
    assert failed.returncode == 9
    user = ok(root, "container", "run", "--user", "1000", "--workingdir", "/data", "w", "--",
              "sh", "-c", "echo $(id -u) $(pwd) > /tmp/who")  # fmt: skip
    assert user.stdout == ""
    ok(root, "container", "commit", "w", "ran:1")
    members = _layer_members(Store(root), "ran:1")
    assert (members["data/new"].uid, members["data/new"].gid) == (1000, 1000)
    assert "data/.wh.c.txt" in members
    who = members["tmp/who"]
    assert who.uid == 1000
    assert set(members) >= {"data", "data/new", "tmp", "tmp/who"}
    assert not any(name.startswith(("proc", "dev", "sys", "etc/hosts")) for name in members)


def test_container_run_needs_a_command(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    ok(root, "container", "from", "--name", "w", peer_images.refs["oci"])
    done = bw(root, "container", "run", "w")
    assert done.returncode == 2 and "COMMAND" in done.stderr


@pytest.mark.parametrize("isolation", ["oci"])
def test_run_with_an_oci_runtime(peer_images: Any, tmp_path: Path, isolation: str) -> None:
    from boxwright.runtime.ocirunner import find_oci_runtime

    try:
        find_oci_runtime()
    except Exception:
        pytest.skip("no runc or crun installed")
    root = tmp_path / "store"
    done = bw(root, "run", "--rm", "--isolation", isolation, peer_images.refs["oci"], "exit 4")
    assert done.returncode == 4, done.stderr
