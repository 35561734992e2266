"""The store commands: images, tag, rmi, pull, push, prune, df, and the global --root."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.cli.store import human_duration
from boxwright.store.images import LINK_CARRIER_LABEL
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, write_context
from boxwright_testing.store_images import MadeImage, make_oci_image


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BOXWRIGHT_ROOT", raising=False)
    return tmp_path / "root"


def bw(root: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--root", str(root), *args])


@pytest.fixture
def images(tmp_path: Path) -> list[MadeImage]:
    return [make_oci_image(tmp_path / f"t{i}", f"t{i}", seed=str(i)) for i in range(2)]


def _layout_name(image: MadeImage) -> str:
    """What a pull of the layout names the image, as podman: localhost/PATH."""
    return "localhost/" + str(image.layout).lstrip("/")


def podman_size(image: MadeImage) -> int:
    """What podman's SIZE counts: the layers unpacked, the config, the manifest twice."""
    blobs = Path(image.layout, "blobs", "sha256")
    unpacked = sum(len(gzip.decompress((blobs / d[7:]).read_bytes())) for d in image.layer_digests)
    manifest = (blobs / image.manifest_digest[7:]).stat().st_size
    return unpacked + (blobs / image.config_digest[7:]).stat().st_size + 2 * manifest


def test_pull_images_tag_rmi_round(root: Path, images: list[MadeImage]) -> None:
    pulled = bw(root, "pull", "-q", images[0].ref)
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.stdout == images[0].id + "\n"
    assert "BOXWRIGHT_ROOT" not in os.environ  # --root is put back after the command
    assert bw(root, "tag", images[0].id[:6], "app:1", "quay.io/x/app:2").exit_code == 0
    assert bw(root, "pull", "-q", images[1].ref).exit_code == 0

    table = bw(root, "images")
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    rows = sorted(line.split()[:3] for line in lines[1:])
    assert rows == sorted(
        [
            [_layout_name(images[0]), "latest", images[0].id[:12]],
            ["localhost/app", "1", images[0].id[:12]],
            ["quay.io/x/app", "2", images[0].id[:12]],
            [_layout_name(images[1]), "latest", images[1].id[:12]],
        ]
    )
    assert all(" ago " in line and line.endswith(" kB") for line in lines[1:])

    quiet = bw(root, "images", "-q", "--no-trunc")
    assert sorted(quiet.stdout.split()) == sorted(f"sha256:{i.id}" for i in images)
    data = json.loads(bw(root, "images", "--format", "json").stdout)
    by_id = {d["Id"]: d for d in data}
    assert by_id[images[0].id]["Names"] == [
        f"{_layout_name(images[0])}:latest",
        "localhost/app:1",
        "quay.io/x/app:2",
    ]
    assert by_id[images[0].id]["Digest"] == images[0].manifest_digest
    assert by_id[images[0].id]["Size"] == podman_size(images[0])
    assert by_id[images[0].id]["Created"] == 1704164645  # 2024-01-02T03:04:05Z

    removed = bw(root, "rmi", "app:1")
    assert removed.stdout == "Untagged: localhost/app:1\n"
    refused = bw(root, "rmi", images[0].id)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: image ") and "use --force" in refused.stderr
    forced = bw(root, "rmi", "-f", images[0].id)
    assert forced.stdout.splitlines() == [
        f"Untagged: {_layout_name(images[0])}:latest",
        "Untagged: quay.io/x/app:2",
        f"Deleted: {images[0].id}",
    ]
    missing = bw(root, "rmi", "nope")
    assert missing.exit_code == 1
    assert "no image 'nope' in the local store" in missing.stderr

    df = bw(root, "df", "--format", "json")
    usage = json.loads(df.stdout)
    assert usage["root"] == str(root) and usage["images"] == 1
    assert usage["blobs_reclaimable"] == images[0].size + len(
        Path(images[0].layout, "blobs", "sha256", images[0].manifest_digest[7:]).read_bytes()
    )
    table = bw(root, "df").stdout.splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert table[1].split()[:3] == ["Images", "1", "0"]

    pruned = bw(root, "prune")
    assert pruned.exit_code == 0, pruned.stderr
    assert pruned.stdout.splitlines()[0] == "Removed 4 blobs, 0 snapshots, 0 temporary entries"
    assert pruned.stdout.splitlines()[1].startswith("Total reclaimed space: ")
    assert json.loads(bw(root, "prune", "--format", "json").stdout) == {
        "images": [],
        "cache_entries": 0,
        "blobs": 0,
        "snapshots": 0,
        "tmp": 0,
        "containers": 0,
        "bytes": 0,
    }


def test_listing_an_absent_store_creates_nothing(root: Path) -> None:
    listed = bw(root, "images")
    assert listed.exit_code == 0
    assert listed.stdout == "REPOSITORY  TAG         IMAGE ID    CREATED     SIZE\n"
    assert bw(root, "images", "--format", "json").stdout.strip() == "[]"
    assert json.loads(bw(root, "df", "--format", "json").stdout)["reclaimable"] == 0
    assert not root.exists()


def test_pull_prints_progress_when_piped(root: Path, images: list[MadeImage]) -> None:
    pulled = bw(root, "pull", images[0].ref)
    assert pulled.exit_code == 0
    assert f"Writing manifest {images[0].manifest_digest} to image destination" in pulled.stderr
    assert pulled.stdout.splitlines()[-1] == images[0].id


def test_push_to_another_transport(root: Path, images: list[MadeImage], tmp_path: Path) -> None:
    assert bw(root, "pull", "-q", "--", images[0].ref).exit_code == 0
    assert bw(root, "tag", images[0].id, "app:1").exit_code == 0
    pushed = bw(root, "push", "-q", "app:1", f"oci-archive:{tmp_path / 'a.tar'}:x")
    assert pushed.exit_code == 0, pushed.stderr
    assert pushed.stdout == images[0].manifest_digest + "\n"
    by_id = bw(root, "push", "-q", images[0].id)
    assert by_id.exit_code == 1
    assert "is an image ID: give a destination" in by_id.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (59 * 60, "59 minutes"),
        (3600, "About an hour"),
        (47 * 3600, "47 hours"),
        (13 * 86400, "13 days"),
        (20 * 86400, "2 weeks"),
        (100 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_as_podman(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_every_command_has_an_example() -> None:
    for command in ("images", "tag", "rmi", "pull", "push", "prune", "df"):
        shown = CliRunner().invoke(main, [command, "--help"])
        assert shown.exit_code == 0
        assert "Example" in shown.stdout, command
    assert "-a, --all" in CliRunner().invoke(main, ["images", "--help"]).stdout
    assert "--root DIR" in CliRunner().invoke(main, ["--help"]).stdout


#: A build whose layer cache holds two RUN images, a COPY --link carrier and its step's image.
LAYERED = f"""FROM {BASE}
ENV A=1
RUN echo hi > /hi
COPY --link a.txt /x/
LABEL x=y
RUN echo 2 > /two
CMD ["sh"]
"""


def _table(result: Any) -> list[list[str]]:
    """REPOSITORY, TAG, IMAGE ID of each row of an ``images`` table (the header checked)."""
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    return [line.split()[:3] for line in lines[1:]]


@pytest.mark.skipif(os.geteuid() != 0, reason="the build tests run as root")
def test_images_hides_a_builds_intermediate_images(bstore: Store, tmp_path: Path) -> None:
    root = bstore.layout.root
    ctx = write_context(tmp_path / "ctx", LAYERED, {"a.txt": "A\n"})
    built = bw(root, "build", "--layers", "-q", "-t", "localhost/app:1", str(ctx))
    assert built.exit_code == 0, built.stderr
    base, final = bstore.images.get(BASE), bstore.images.get("localhost/app:1")
    every = bstore.images.list()
    unnamed = [r for r in every if not r.names]
    carriers = [
        r.id
        for r in unnamed
        if bstore.images.config(r).config.labels.get(LINK_CARRIER_LABEL) == "true"
    ]
    # the RUN, the carrier, the linked COPY, the LABEL+RUN: four cache images, one carrier
    assert len(every) == 6 and len(unnamed) == 4 and len(carriers) == 1
    assert [len(r.layers) for r in unnamed] == [2, 1, 3, 4]

    assert _table(bw(root, "images")) == [
        ["localhost/app", "1", final.short_id],
        ["localhost/bb", "1", base.short_id],
    ]
    shown = _table(bw(root, "images", "--all"))
    assert sorted(shown) == sorted(
        [
            ["localhost/app", "1", final.short_id],
            ["localhost/bb", "1", base.short_id],
            *(["<none>", "<none>", r.short_id] for r in unnamed),
        ]
    )
    assert _table(bw(root, "images", "-a")) == shown
    assert bw(root, "images", "-q").stdout.splitlines() == [final.short_id, base.short_id]
    quiet_all = bw(root, "images", "-q", "-a", "--no-trunc").stdout.splitlines()
    assert sorted(quiet_all) == sorted(f"sha256:{r.id}" for r in every)
    data = json.loads(bw(root, "images", "--format", "json").stdout)
    assert [d["Id"] for d in data] == [base.id, final.id]
    data = json.loads(bw(root, "images", "--format", "json", "--all").stdout)
    assert [d["Id"] for d in data] == [r.id for r in every]

    # a rebuild with another last step: app:1 moves, the old image is dangling and listed
    ctx = write_context(tmp_path / "ctx2", LAYERED.replace('"sh"', '"ls"'), {"a.txt": "A\n"})
    assert bw(root, "build", "-q", "-t", "localhost/app:1", str(ctx)).exit_code == 0
    again = bstore.images.get("localhost/app:1")
    assert again.id != final.id
    assert _table(bw(root, "images")) == [
        ["localhost/app", "1", again.short_id],
        ["<none>", "<none>", final.short_id],
        ["localhost/bb", "1", base.short_id],
    ]
    # a cache image once tagged is listed; the carrier too
    mid = unnamed[0]
    assert bw(root, "tag", mid.id, "mid:1").exit_code == 0
    assert bw(root, "tag", carriers[0], "carrier:1").exit_code == 0
    carrier = bstore.images.get("carrier:1")
    assert _table(bw(root, "images")) == [
        ["localhost/app", "1", again.short_id],
        ["<none>", "<none>", final.short_id],
        ["localhost/carrier", "1", carrier.short_id],
        ["localhost/mid", "1", mid.short_id],
        ["localhost/bb", "1", base.short_id],
    ]
