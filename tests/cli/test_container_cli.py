"""``boxwright container ...`` on the command line: from, copy, config, commit, mount, ls, rm,
inspect, with exact output and one-line errors."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from boxwright.cli.main import main
from boxwright.store.store import Store


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), "container", *args])


def ok(root: Path, *args: str) -> Result:
    result = run(root, *args)
    assert result.exit_code == 0, result.output
    return result


def test_from_copy_config_commit_ls_inspect_rm(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    source = tmp_path / "app.conf"
    source.write_text("x = 1\n")
    made = ok(root, "from", "--name", "web", peer_images.refs["oci"])
    assert made.stdout.splitlines()[-1] == "web"
    copied = ok(
        root, "copy", "--chown", "1000:1000", "--chmod", "0640", "web", str(source), "/srv/"
    )
    assert copied.stdout.startswith("file:")
    ok(
        root,
        "config",
        "--env", "MODE=prod",
        "--cmd", "serve --port 8080",
        "--entrypoint", '["/bin/app"]',
        "--workingdir", "/srv",
        "--user", "1000:1000",
        "--port", "8080",
        "--volume", "/data",
        "--label", "team=web",
        "--annotation", "note=hi",
        "--stop-signal", "SIGINT",
        "--author", "Jane",
        "--created-by", "COPY app.conf /srv/",
        "web",
    )  # fmt: skip
    store = Store(root)
    record = store.containers.get("web")
    inspected = json.loads(ok(root, "inspect", "web").stdout)
    assert inspected["id"] == record.id and inspected["name"] == "web"
    assert inspected["image_id"] == record.image_id and inspected["driver"] == record.driver
    assert inspected["annotations"] == {"note": "hi"}
    assert inspected["history"] == [{"created_by": "COPY app.conf /srv/"}]
    cfg = inspected["config"]["config"]
    assert (cfg["Cmd"], cfg["Entrypoint"]) == (["serve", "--port", "8080"], ["/bin/app"])
    assert (cfg["WorkingDir"], cfg["User"], cfg["StopSignal"]) == ("/srv", "1000:1000", "SIGINT")
    assert cfg["Env"][-1] == "MODE=prod" and cfg["Labels"]["team"] == "web"
    assert (cfg["ExposedPorts"], cfg["Volumes"]) == ({"8080/tcp": {}}, {"/data": {}})
    assert inspected["config"]["author"] == "Jane"

    listed = ok(root, "ls").stdout.splitlines()
    assert listed[0].split() == ["CONTAINER", "ID", "IMAGE", "ID", "IMAGE", "NAME", "CONTAINER",
                                 "NAME", "DRIVER"]  # fmt: skip
    assert listed[1].split() == [
        record.id[:12],
        (record.image_id or "")[:12],
        record.image_name,
        "web",
        record.driver,
    ]
    assert json.loads(ok(root, "ls", "--format", "json").stdout)[0]["name"] == "web"
    assert ok(root, "ls", "-q", "--no-trunc").stdout == record.id + "\n"

    committed = ok(root, "commit", "--timestamp", "0", "--format", "oci", "web", "app:1")
    image = store.images.get("app:1")
    assert committed.stdout.splitlines() == ["committed localhost/app:1", image.id]
    raw = store.blobs.read(image.layers[-1], limit=1 << 20)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        conf = tar.getmember("srv/app.conf")
    assert (conf.uid, conf.gid, conf.mode) == (1000, 1000, 0o640)
    config = json.loads(store.blobs.read(image.config))
    assert config["history"][-1]["created_by"] == "COPY app.conf /srv/"

    assert ok(root, "rm", "web").stdout == record.id + "\n"
    assert ok(root, "ls").stdout.splitlines()[1:] == []


def test_mount_umount_and_scratch_naming(tmp_path: Path) -> None:
    root = tmp_path / "store"
    assert ok(root, "from", "-q", "scratch").stdout == "working-container\n"
    assert ok(root, "from", "-q", "scratch").stdout == "working-container-1\n"
    path = Path(ok(root, "mount", "working-container").stdout.strip())
    (path / "hand.txt").write_text("edit\n")
    assert json.loads(ok(root, "inspect", "working-container").stdout)["mounted"] is True
    ok(root, "umount", "working-container")
    image_id = ok(root, "commit", "-q", "working-container", "hand:1").stdout.strip()
    store = Store(root)
    assert store.images.get("hand:1").id == image_id
    raw = store.blobs.read(store.images.get("hand:1").layers[-1], limit=1 << 20)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        assert tar.getnames() == ["hand.txt"]
    removed = ok(root, "rm", "--all").stdout.splitlines()
    assert len(removed) == 2 and store.containers.list() == []


def test_errors_are_one_line(tmp_path: Path) -> None:
    root = tmp_path / "store"
    missing = run(root, "copy", "nope", "a", "/b")
    assert missing.exit_code == 1
    assert missing.stderr == (
        "Error: no working container named 'nope' (nor with that ID): "
        "see `boxwright container ls`\n"
    )
    ok(root, "from", "-q", "--name", "c", "scratch")
    bad_port = run(root, "config", "--port", "http", "c")
    assert bad_port.exit_code == 1
    assert bad_port.stderr == ("Error: port 'http' is not PORT[/PROTOCOL] (e.g. 8080 or 53/udp)\n")
    assert run(root, "config", "c").exit_code == 2
    assert run(root, "copy", "c", "only-one").exit_code == 2
    assert run(root, "rm").exit_code == 2
    taken = run(root, "from", "--name", "c", "scratch")
    assert taken.exit_code == 1 and "already in use" in taken.stderr


@pytest.mark.parametrize("command", ["from", "copy", "add", "config", "commit", "ls", "inspect"])
def test_help_has_an_example(command: str) -> None:
    result = CliRunner().invoke(main, ["container", command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
