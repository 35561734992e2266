"""Names of pulled images and of working containers, compared with podman 4.3 and buildah 1.28
pulling the same references into private stores (vfs driver, ``--root``/``--runroot``).

Every reference of every transport a pull or ``container from`` reads: ``oci:`` (absolute,
relative, with and without a tag, with a ``NAME:TAG`` ref name), ``oci-archive:`` (a full
name, a bare tag, no name), ``docker-archive:`` (two RepoTags, a chosen tag, none), ``dir:``
and ``docker://``. Each reference holds an image of its own, so names never merge by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from boxwright.oci import mediatype as mt
from boxwright.store import Store, pull
from boxwright.transport.options import TransportOptions
from boxwright_testing.store_images import make_oci_image

PODMAN = shutil.which("podman")
BUILDAH = shutil.which("buildah")
SKOPEO = shutil.which("skopeo")

pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(
        PODMAN is None or BUILDAH is None or SKOPEO is None,
        reason="podman, buildah and skopeo are needed",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the peers run as root here"),
]


def _run(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)
    if check:
        assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
    return done


@dataclass(frozen=True)
class Refs:
    """The references under test, relative ones meant for ``cwd``."""

    cwd: Path
    refs: tuple[str, ...]


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory, plain_registry: Any) -> Refs:
    assert SKOPEO is not None
    root = tmp_path_factory.mktemp("names")
    registry = plain_registry.host
    repo = plain_registry.repo("names")
    skopeo = [SKOPEO, "copy", "--quiet", "--dest-tls-verify=false"]
    made: list[str] = []

    def image(seed: str, dest: str, *extra: str) -> None:
        src = make_oci_image(root / "src" / seed, "latest", seed=seed, layers=1)
        _run(*skopeo, *extra, f"oci:{src.layout}:latest", dest, cwd=root)

    cases = [
        ("abs", f"oci:{root}/lay-abs:latest", f"oci:{root}/lay-abs:latest"),
        ("rel", "oci:lay-rel:latest", "oci:lay-rel:latest"),
        ("notag", f"oci:{root}/lay-notag", f"oci:{root}/lay-notag"),
        ("refname", f"oci:{root}/lay-ref:app:1", f"oci:{root}/lay-ref:app:1"),
        ("full", f"oci-archive:{root}/full.tar:quay.io/x/app:2", f"oci-archive:{root}/full.tar"),
        ("tagonly", f"oci-archive:{root}/tag.tar:v1", f"oci-archive:{root}/tag.tar:v1"),
        ("bare", f"oci-archive:{root}/bare.tar", f"oci-archive:{root}/bare.tar"),
        (
            "tags",
            f"docker-archive:{root}/tags.tar:localhost/a:1",
            f"docker-archive:{root}/tags.tar",
        ),
        ("chosen", f"docker-archive:{root}/chosen.tar:localhost/c:1", ""),
        ("untagged", f"docker-archive:{root}/untagged.tar", f"docker-archive:{root}/untagged.tar"),
        ("dir", f"dir:{root}/dir", f"dir:{root}/dir"),
        ("registry", f"docker://{registry}/{repo}:3", f"docker://{registry}/{repo}:3"),
    ]
    for seed, dest, ref in cases:
        extra = ["--additional-tag", "localhost/b:2"] if seed in ("tags", "chosen") else []
        image(seed, dest, *extra)
        if ref:
            made.append(ref)
    made.append(f"docker-archive:{root}/chosen.tar:localhost/b:2")
    return Refs(root, tuple(made))


def _tls(ref: str) -> list[str]:
    return ["--tls-verify=false"] if ref.startswith("docker://") else []


def _podman_names(work: Path, run: Path, ref: str, cwd: Path) -> list[str]:
    assert PODMAN is not None
    podman = [PODMAN, "--root", str(work / "root"), "--runroot", str(run)]
    podman += ["--storage-driver", "vfs"]
    _run(*podman, "pull", "-q", *_tls(ref), ref, cwd=cwd)
    listed = _run(*podman, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return sorted(n for n in listed if n != "<none>:<none>")


def test_pulled_names_are_podmans(
    refs: Refs, tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(refs.cwd)
    options = TransportOptions(tls_verify=False)
    seen: list[list[str]] = []
    for i, ref in enumerate(refs.refs):
        record = pull(ref, store=Store(tmp_path / f"bw{i}"), src_options=options)
        ours = sorted(record.names)
        assert ours == _podman_names(tmp_path / f"podman{i}", run_dir / str(i), ref, refs.cwd), ref
        seen.append(ours)
    here = "localhost/" + str(refs.cwd).lstrip("/")
    assert seen == [
        [f"{here}/lay-abs:latest"],
        ["localhost/lay-rel:latest"],
        [f"{here}/lay-notag:latest"],
        [f"{here}/lay-ref:latest"],  # the tag picks the image; the path names it
        ["quay.io/x/app:2"],  # oci-archive: the entry's ref name
        ["localhost/v1:latest"],
        [],
        ["localhost/a:1", "localhost/b:2"],  # docker-archive: every RepoTags entry
        [],
        [],  # dir:
        [refs.refs[10].removeprefix("docker://")],
        ["localhost/b:2"],  # docker-archive:FILE:NAME:TAG: that name only
    ]


def test_container_names_are_buildahs(
    refs: Refs, tmp_path: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert BUILDAH is not None
    monkeypatch.chdir(refs.cwd)
    buildah = [BUILDAH, "--root", str(tmp_path / "b-root"), "--runroot", str(run_dir)]
    buildah += ["--storage-driver", "vfs"]
    store = Store(tmp_path / "bw")
    from boxwright.store.pulling import pull_named

    ours, theirs = [], []
    for ref in (*refs.refs, refs.refs[0], refs.refs[-3]):
        base = ref
        if ref.startswith("docker://"):  # the plain-HTTP registry: pulled first, used by name
            pull_named(store, ref, src_options=TransportOptions(tls_verify=False))
            base = ref.removeprefix("docker://")
        ours.append(store.containers.create(base).name)
        theirs.append(_run(*buildah, "from", "-q", *_tls(ref), ref, cwd=refs.cwd).stdout.strip())
    # One documented difference: buildah 1.28 cuts a name at its first colon before its last
    # slash, so an image of HOST:PORT/REPO makes HOST-working-container; boxwright takes REPO.
    registry = refs.refs[10]
    repo = registry.rsplit("/", 1)[1].split(":")[0]
    assert (ours[10], theirs[10]) == (f"{repo}-working-container", "127.0.0.1-working-container")
    assert ours[:10] + ours[11:] == theirs[:10] + theirs[11:]
    assert ours[:3] == [
        "lay-abs-working-container",
        "lay-rel-working-container",
        "lay-notag-working-container",
    ]
    assert ours[-2:] == ["lay-abs-working-container-1", "dir-working-container-1"]


def test_a_stored_image_keeps_its_manifest_as_in_podman(tmp_path: Path, run_dir: Path) -> None:
    """The same image pulled from a layout (gzip, OCI) and then from a docker archive
    (uncompressed, Docker schema 2): the stored manifest and digest stay the first ones."""
    assert SKOPEO is not None and PODMAN is not None
    src = make_oci_image(tmp_path / "lay", "latest", seed="keep")
    archive = tmp_path / "keep.tar"
    _run(SKOPEO, "copy", "-q", src.ref, f"docker-archive:{archive}:quay.io/k/keep:1")
    store = Store(tmp_path / "bw")
    first = pull(src.ref, store=store)
    blobs_before = sorted(p.name for p in (store.root / "blobs" / "sha256").iterdir())
    second = pull(f"docker-archive:{archive}", store=store)
    assert (second.id, second.manifest, second.manifest_media_type) == (
        first.id,
        first.manifest,
        mt.OCI_MANIFEST,
    )
    assert str(second.manifest) == src.manifest_digest
    assert second.names == (f"localhost/{str(src.layout).lstrip('/')}:latest", "quay.io/k/keep:1")
    # nothing was copied: the archive's uncompressed layers never reached the store
    assert sorted(p.name for p in (store.root / "blobs" / "sha256").iterdir()) == blobs_before
    podman = [PODMAN, "--root", str(tmp_path / "p-root"), "--runroot", str(run_dir)]
    podman += ["--storage-driver", "vfs"]
    _run(*podman, "pull", "-q", src.ref)
    _run(*podman, "pull", "-q", f"docker-archive:{archive}")
    digest = _run(*podman, "inspect", "--format", "{{.Digest}}", "quay.io/k/keep:1").stdout
    assert digest.strip() == src.manifest_digest


def test_an_invalid_layout_path_is_stored_untagged(tmp_path: Path) -> None:
    """podman refuses ``oci:./Upper`` (its path is no valid name); boxwright stores the image
    without a name instead."""
    src = make_oci_image(tmp_path / "Upper", "latest", seed="upper")
    record = pull(f"oci:{src.layout}:latest", store=Store(tmp_path / "bw"))
    assert (record.id, record.names) == (src.id, ())


@pytest.fixture(autouse=True)
def _no_podman_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """podman and buildah read no user configuration of the machine running the tests."""
    conf = tmp_path / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A short directory for the peers' run roots (podman refuses one over 50 characters)."""
    path = Path(tempfile.mkdtemp(prefix="bw-run-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
