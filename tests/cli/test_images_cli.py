"""``images``, ``history`` and ``prune`` against the real podman, on the same set of images.

The same three images (made here as an OCI layout) are pulled into a private podman store
and into a boxwright store, with the same names; every listing is then compared byte for
byte with podman's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright_testing.podman import Podman, podman_or_skip
from boxwright_testing.store_images import MadeImage, make_oci_image


@dataclass
class Pair:
    """A podman store and a boxwright store holding the same images."""

    podman: Podman
    root: Path
    ids: dict[str, str]  # app, web, loose -> image ID

    def bw(self, *args: str, input: bytes | None = None) -> Any:
        result = CliRunner().invoke(main, ["--root", str(self.root), *args], input=input)
        assert result.exit_code == 0, result.stderr
        return result


def _made(tmp: Path) -> dict[str, MadeImage]:
    """Three images: app (labelled), web (labelled, three layers), loose (left unnamed)."""
    layout = tmp / "layout"
    return {
        "app": make_oci_image(
            layout, "app", seed="app", created="2024-01-01T00:00:00Z", labels={"tier": "front"}
        ),
        "web": make_oci_image(
            layout,
            "web",
            seed="web",
            layers=3,
            created="2024-02-01T00:00:00Z",
            labels={"tier": "back", "team": "x"},
        ),
        "loose": make_oci_image(layout, "loose", seed="loose", created="2024-03-01T00:00:00Z"),
    }


NAMES = {"app": "app:1", "web": "web:2", "loose": ""}


def _fill(podman: Podman, root: Path, made: dict[str, MadeImage]) -> None:
    """Pull each image from its OCI layout into both stores (the same manifest bytes), named
    as :data:`NAMES` says in both."""
    from boxwright.store.pulling import pull_into
    from boxwright.store.store import Store

    store = Store(root)
    for key, image in made.items():
        podman.run("pull", "-q", image.ref)
        podman.run("untag", image.id)
        if NAMES[key]:
            podman.run("tag", image.id, NAMES[key])
        pull_into(store, image.ref, name=NAMES[key])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("images-cli")
    podman = podman_or_skip(tmp / "podman")
    made = _made(tmp)
    _fill(podman, tmp / "bw", made)
    yield Pair(podman, tmp / "bw", {k: v.id for k, v in made.items()})


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--digests"],
        ["--noheading"],
        ["-q"],
        ["-q", "--no-trunc"],
        ["--no-trunc"],
        ["--sort", "size"],
        ["--sort", "id"],
        ["--sort", "repository"],
        ["--sort", "tag"],
        ["--sort", "created"],
        ["app"],
        ["localhost/web:2"],
        ["--format", "{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}} {{.Digest}} {{.Dangling}}"],
        ["--format", "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}\\t{{.Labels}}"],
        ["--format", "table {{.ID}}\\t{{.CreatedAt}}\\t{{.VirtualSize}}", "--noheading"],
        ["--format", "{{.Names}} {{.RepoTags}} {{.RepoDigests}} {{.Containers}}"],
        ["--format", '{{if .Labels}}{{index .Labels "tier"}}{{else}}-{{end}} {{upper .Tag}}'],
        ["--format", "{{range .Names}}[{{.}}]{{end}} {{len .Labels}} {{json .Labels}}"],
        ["--format", '{{printf "%-12s|%8s" .Tag .Size}} {{join .Names ","}} {{lower .ID}}'],
        ["--format", "{{.Created}} {{.CreatedSince}} {{.ReadOnly}} {{.SharedSize}}"],
    ],
)
def test_images_output_equals_podman(pair: Pair, args: list[str]) -> None:
    assert pair.bw("images", *args).stdout == pair.podman.out("images", *args)


@pytest.mark.parametrize(
    "filters",
    [
        ["dangling=true"],
        ["dangling=false"],
        ["intermediate=false"],
        ["label=tier"],
        ["label=tier=back"],
        ["label=team", "label=tier=front"],
        ["reference=app"],
        ["reference=*eb*"],
        ["reference=localhost/*:1"],
        ["reference=app", "reference=web"],
        ["before=web:2"],
        ["since=app:1"],
        ["since=app:1", "label=tier"],
    ],
)
def test_images_filters_equal_podman(pair: Pair, filters: list[str]) -> None:
    args = [a for f in filters for a in ("--filter", f)]
    expected = pair.podman.out("images", "--format", "{{.ID}} {{.Repository}}", *args)
    got = pair.bw("images", "--format", "{{.ID}} {{.Repository}}", *args).stdout
    assert got == expected
    assert got  # every filter here selects something or nothing, as podman; never an error


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--no-trunc"],
        ["--human=false"],
        ["-q"],
        ["--format", "json"],
        ["--format", "{{.ID}}|{{.Created}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}|{{.CreatedAt}}"],
        ["--format", "table {{.ID}}\\t{{.CreatedBy}}\\t{{.CreatedSince}}"],
    ],
)
def test_history_equals_podman(pair: Pair, args: list[str]) -> None:
    podman_args = ["-H=false" if a == "--human=false" else a for a in args]
    for image in ("web:2", pair.ids["loose"][:12]):
        expected = pair.podman.out("history", *podman_args, image)
        assert pair.bw("history", *args, image).stdout == expected


def test_prune_removes_what_podman_image_prune_removes(tmp_path: Path) -> None:
    """Dangling images first (the unnamed one), then with -a every image; the IDs printed are
    podman's, and the build cache entries naming them go too."""
    podman = podman_or_skip(tmp_path / "podman")
    root = tmp_path / "bw"
    _fill(podman, root, _made(tmp_path))

    def bw(*args: str) -> Any:
        return CliRunner().invoke(main, ["--root", str(root), *args])

    from boxwright.build.cache import BuildCache
    from boxwright.store.store import Store

    loose = _made(tmp_path)["loose"].id
    BuildCache(Store(root)).put("step-key", loose)
    dangling = podman.out("image", "prune", "-f")
    pruned = bw("prune", "-f")
    assert pruned.exit_code == 0, pruned.stderr
    assert dangling == f"{loose}\n"
    assert pruned.stdout.splitlines()[0] == loose
    assert pruned.stdout.splitlines()[1].startswith("Removed 4 blobs, 0 snapshots")
    assert len(BuildCache(Store(root))) == 0
    assert bw("images", "-q").stdout == podman.out("images", "-q")

    everything = podman.out("image", "prune", "-a", "-f")
    pruned_all = bw("prune", "-a", "-f", "--format", "json")
    assert sorted(json.loads(pruned_all.stdout)["images"]) == sorted(everything.split())
    assert bw("images", "-q").stdout == "" == podman.out("images", "-q")
