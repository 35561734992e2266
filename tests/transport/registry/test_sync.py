"""``sync``: tag filters (regex, semver), registry → registry and registry → directory, a
YAML/JSON list of sources, and the no-op second run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from registry_images import TestImage, make_image

from boxwright.cli.main import main
from boxwright.copy import CopyOptions, copy_image
from boxwright.copy.semver import SemverRange, parse_version
from boxwright.copy.sync import SyncOptions, filter_tags, sync
from boxwright.errors import UsageError
from boxwright.transport.options import TransportOptions
from boxwright_testing.registry_servers import RegistryServer

PLAIN = TransportOptions(tls_verify=False)
TAGS = ["1.0.0", "1.2.0", "1.10.3", "2.0.0", "2.1.0-rc.1", "v2.1.0", "latest", "3"]


@pytest.mark.parametrize(
    ("semver", "expected"),
    [
        (">=1.2, <2", ["1.2.0", "1.10.3"]),
        ("~1.2", ["1.2.0"]),
        ("^1.2", ["1.2.0", "1.10.3"]),
        ("2.x", ["2.0.0", "v2.1.0"]),
        ("<1.1 || >=3", ["1.0.0", "3"]),
        (">=2.1.0-rc.0 <2.2", ["2.1.0-rc.1", "v2.1.0"]),
    ],
)
def test_semver_ranges(semver: str, expected: list[str]) -> None:
    assert filter_tags(TAGS, semver=semver) == expected


def test_regex_and_semver_combine() -> None:
    assert filter_tags(TAGS, tag_regex=r"^v?2") == ["2.0.0", "2.1.0-rc.1", "v2.1.0"]
    assert filter_tags(TAGS, tag_regex=r"^v", semver=">=2") == ["v2.1.0"]


def test_bad_filters_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="invalid version range"):
        SemverRange.parse(">=banana")
    with pytest.raises(UsageError, match="invalid tag regular expression"):
        filter_tags(TAGS, tag_regex="(")
    assert parse_version("latest") is None
    v = parse_version("v1.2.3-rc.1+build")
    assert v is not None and (v.major, v.minor, v.patch, v.prerelease) == (1, 2, 3, ("rc", "1"))


@pytest.fixture
def source_repo(
    registry_plain: RegistryServer, tmp_path: Path, isolated_auth: Path
) -> tuple[str, dict[str, TestImage]]:
    repo = registry_plain.repo("syncsrc")
    images = {}
    for n, tag in enumerate(("1.0.0", "1.5.0", "2.0.0")):
        images[tag] = make_image(tmp_path / f"img{n}", layers=1, layer_size=3000, seed=tag)
        copy_image(images[tag].ref, registry_plain.ref(repo, tag), CopyOptions(dest_options=PLAIN))
    return repo, images


def test_sync_registry_to_registry_with_semver_then_noop(
    registry_plain: RegistryServer, source_repo: tuple[str, dict[str, TestImage]]
) -> None:
    repo, _ = source_repo
    prefix = f"{registry_plain.host}/{registry_plain.repo('mirror')}"
    lines: list[str] = []
    options = SyncOptions(
        semver="<2",
        src_options=PLAIN,
        dest_options=PLAIN,
        on_image=lines.append,
    )
    result = sync(f"docker://{registry_plain.host}/{repo}", prefix, options)
    src = f"docker://{registry_plain.host}/{repo}"
    assert result.copied == (f"{src}:1.0.0", f"{src}:1.5.0")
    assert result.failed == ()
    assert len(lines) == 2
    from boxwright.transport.docker import list_tags

    assert sorted(list_tags(f"docker://{prefix}/{repo}", PLAIN)) == ["1.0.0", "1.5.0"]
    again = sync(f"docker://{registry_plain.host}/{repo}", prefix, options)
    assert again.copied == ()
    assert again.unchanged == (f"{src}:1.0.0", f"{src}:1.5.0")


def test_sync_yaml_list_to_directory_by_cli(
    registry_plain: RegistryServer,
    source_repo: tuple[str, dict[str, TestImage]],
    tmp_path: Path,
) -> None:
    repo, images = source_repo
    listing = tmp_path / "images.yaml"
    # skopeo sync's YAML format (a JSON list works too: YAML reads JSON)
    listing.write_text(
        f"{registry_plain.host}:\n"
        f"  images:\n"
        f"    {repo}:\n"
        f"      - 2.0.0\n"
        f"  images-by-tag-regex:\n"
        f"    {repo}: ^1\\.0\n"
        f"  tls-verify: false\n"
    )
    out_dir = tmp_path / "out"
    done = CliRunner().invoke(
        main, ["sync", "-q", "--src", "yaml", "--dest", "dir", str(listing), str(out_dir)]
    )
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip() == "2 copied, 0 already there, 0 failed"
    index = json.loads((out_dir / repo / "index.json").read_text())
    names = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert names == {
        "2.0.0": images["2.0.0"].manifest_digest,
        "1.0.0": images["1.0.0"].manifest_digest,
    }


def test_sync_reports_failures_and_exits_1(
    registry_plain: RegistryServer, tmp_path: Path, isolated_auth: Path
) -> None:
    listing = tmp_path / "images.json"
    listing.write_text(
        json.dumps({registry_plain.host: {"images": {"nothing-here": ["1"]}, "tls-verify": False}})
    )
    done = CliRunner().invoke(
        main, ["sync", "-q", "--src", "yaml", "--dest", "dir", str(listing), str(tmp_path / "o")]
    )
    assert done.exit_code == 1
    assert done.stdout.strip() == "0 copied, 0 already there, 1 failed"
    assert "nothing-here" in done.stderr


SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    return subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=120, check=False)


@needs_skopeo
def test_dry_run_says_what_skopeo_says_and_copies_nothing(
    registry_plain: RegistryServer, source_repo: tuple[str, dict[str, TestImage]], tmp_path: Path
) -> None:
    repo, _ = source_repo
    src = f"{registry_plain.host}/{repo}"
    args = ["sync", "--dry-run", "--src-tls-verify=false", "--src", "docker", "--dest", "dir"]
    theirs = _skopeo(*args, src, str(tmp_path / "skopeo"))
    assert theirs.returncode == 0, theirs.stderr
    assert "Would have synced 3 images from 1 sources" in theirs.stderr
    ours = CliRunner().invoke(main, [*args, f"docker://{src}", str(tmp_path / "ours")])
    assert ours.exit_code == 0, ours.stderr
    lines = ours.stdout.splitlines()
    assert sorted(lines[:-1]) == [  # in the registry's tag order
        f"Would have copied image from=docker://{src}:{tag} to=oci:{tmp_path}/ours/{repo}:{tag}"
        for tag in ("1.0.0", "1.5.0", "2.0.0")
    ]
    assert lines[-1] == "Would have synced 3 images from 1 sources"
    assert not (tmp_path / "ours").exists()
    # skopeo 1.9 makes the empty image directories, and writes nothing into them
    assert [list(p.iterdir()) for p in (tmp_path / "skopeo").iterdir()] == [[], [], []]


@needs_skopeo
def test_the_first_failure_stops_unless_keep_going(
    registry_plain: RegistryServer, source_repo: tuple[str, dict[str, TestImage]], tmp_path: Path
) -> None:
    repo, _ = source_repo
    listing = tmp_path / "images.yaml"
    listing.write_text(
        f"{registry_plain.host}:\n  images:\n    aaa-missing: ['1']\n    {repo}: ['1.0.0']\n"
        "  tls-verify: false\n"
    )
    args = ["sync", "--src", "yaml", "--dest", "dir"]
    for keep, counts in ((False, (0, 1, 1)), (True, (1, 1, 0))):
        flags = ["--keep-going"] if keep else []
        theirs = _skopeo(*args, *flags, str(listing), str(tmp_path / f"skopeo-{keep}"))
        ours = CliRunner().invoke(
            main,
            [*args, "-q", "--parallel", "1", *flags, str(listing), str(tmp_path / f"o-{keep}")],
        )
        assert theirs.returncode == ours.exit_code == 1, (theirs.stderr, ours.stderr)
        copied_by_skopeo = (tmp_path / f"skopeo-{keep}" / f"{repo}:1.0.0").is_dir()
        copied, failed, not_tried = counts
        assert copied_by_skopeo == bool(copied)
        summary = f"{copied} copied, 0 already there, {failed} failed"
        if not_tried:
            summary += f", {not_tried} not tried (see --keep-going)"
        assert ours.stdout.splitlines()[-1] == summary
        assert (tmp_path / f"o-{keep}" / repo / "index.json").exists() == bool(copied)


@needs_skopeo
def test_src_dir_reads_what_skopeo_wrote_and_names_it_as_skopeo(
    registry_plain: RegistryServer, source_repo: tuple[str, dict[str, TestImage]], tmp_path: Path
) -> None:
    repo, images = source_repo
    tree = tmp_path / "usb"
    done = _skopeo(
        "sync",
        "--src-tls-verify=false",
        "--src",
        "docker",
        "--dest",
        "dir",
        f"{registry_plain.host}/{repo}:1.5.0",
        str(tree),
    )
    assert done.returncode == 0, done.stderr
    assert (tree / f"{repo}:1.5.0" / "manifest.json").is_file()
    theirs_prefix = f"{registry_plain.host}/{registry_plain.repo('skopeo')}"
    ours_prefix = f"{registry_plain.host}/{registry_plain.repo('ours')}"
    args = ["sync", "--dest-tls-verify=false", "--src", "dir", "--dest", "docker"]
    done = _skopeo(*args, str(tree), theirs_prefix)
    assert done.returncode == 0, done.stderr
    ours = CliRunner().invoke(main, [*args, "-q", str(tree), ours_prefix])
    assert ours.exit_code == 0, ours.stderr
    assert ours.stdout == "1 copied, 0 already there, 0 failed\n"
    from boxwright.inspect import inspect_image
    from boxwright.transport.docker import list_tags

    assert list_tags(f"docker://{ours_prefix}/{repo}", PLAIN) == ["1.5.0"]
    assert list_tags(f"docker://{theirs_prefix}/{repo}", PLAIN) == ["1.5.0"]
    digests = {
        str(inspect_image(f"docker://{p}/{repo}:1.5.0", options=PLAIN).digest)
        for p in (ours_prefix, theirs_prefix)
    }
    assert digests == {images["1.5.0"].manifest_digest}
    # what a sync to a directory writes (OCI layouts) is a --src dir too; --append-suffix
    layouts = tmp_path / "layouts"
    assert (
        CliRunner()
        .invoke(main, ["sync", "-q", "--src", "dir", "--dest", "dir", str(tree), str(layouts)])
        .exit_code
        == 0
    )
    again = CliRunner().invoke(
        main, [*args, "-q", "--append-suffix", "-mirror", str(layouts), ours_prefix]
    )
    assert again.exit_code == 0, again.stderr
    assert sorted(list_tags(f"docker://{ours_prefix}/{repo}", PLAIN)) == ["1.5.0", "1.5.0-mirror"]
