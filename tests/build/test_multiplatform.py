"""Builds for other and for several platforms: emulated RUN, FROM --platform, --manifest.

The bases are Debian's busybox-static of amd64 and of arm64 (``busybox_platforms``); a RUN of
the arm64 image runs through qemu-user-static (``arm64_emulation``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxwright.build.context import BuildEvent, BuildOptions
from boxwright.build.multiplatform import build_platforms
from boxwright.oci.platform import Platform, parse_platforms
from boxwright.store import Store
from boxwright.store.manifestops import add_to_list, push_list
from boxwright.store.pullpush import pull
from boxwright.transport.options import TransportOptions
from boxwright_testing.builds import config_of, run_build, tree_of, write_context
from boxwright_testing.multiarch import BusyboxPlatforms
from boxwright_testing.registry_servers import REGISTRY_BINARY, start_registry

SKOPEO = shutil.which("skopeo")


def test_a_foreign_run_goes_through_qemu(
    tmp_path: Path, busybox_platforms: BusyboxPlatforms, arm64_emulation: None
) -> None:
    store = Store(tmp_path / "store")
    text = f"FROM {busybox_platforms.ref('multi')}\nRUN /bin/busybox uname -m > /arch\n"
    ctx = write_context(tmp_path / "ctx", text)
    built = run_build(store, ctx, platform="linux/arm64")
    assert tree_of(store, built.image_id)["arch"][4] == "aarch64\n"
    assert (
        config_of(store, built.image_id)["architecture"],
        config_of(store, built.image_id)["variant"],
    ) == ("arm64", "v8")


CROSS = """\
FROM --platform=$BUILDPLATFORM {base} AS tools
RUN echo tools-ran && /bin/busybox uname -m > /built-on
FROM {base}
ARG TARGETARCH
COPY --from=tools /built-on /built-on
RUN /bin/busybox uname -m > /runs-on && echo $TARGETARCH > /target
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")
    server = start_registry(tmp_path_factory.mktemp("multiplatform-registry"), "plain")
    yield server
    server.stop()


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_two_platforms_into_a_manifest_list_pushed_and_read_back(
    tmp_path: Path,
    busybox_platforms: BusyboxPlatforms,
    arm64_emulation: None,
    registry: Any,
) -> None:
    store = Store(tmp_path / "store")
    # the base is a manifest list of the store: each platform's build takes its own image
    for arch in ("amd64", "arm64"):
        pull(busybox_platforms.ref(arch), store=store, name=f"bb-{arch}")
    store.manifest_lists.create(["bb"])
    add_to_list(store, "bb", "bb-amd64")
    add_to_list(store, "bb", "bb-arm64")
    ctx = write_context(tmp_path / "ctx", CROSS.format(base="bb"))
    events: list[BuildEvent] = []
    platforms = parse_platforms(["linux/amd64,linux/arm64"])
    made = build_platforms(
        BuildOptions(context=ctx, on_event=events.append), platforms, "app", store
    )
    # the cross-compiling stage ran once, natively; the final stage once per platform
    assert [e.text for e in events if e.text.endswith("tools-ran")] == ["[linux/amd64] tools-ran"]
    trees = {str(p): tree_of(store, r.image_id) for p, r in made.results}
    assert {p: (t["built-on"][4], t["runs-on"][4], t["target"][4]) for p, t in trees.items()} == {
        "linux/amd64": ("x86_64\n", "x86_64\n", "amd64\n"),
        "linux/arm64": ("x86_64\n", "aarch64\n", "arm64\n"),
    }
    assert made.manifest is not None
    listed = [str(i.descriptor.platform) for i in made.manifest.instances]
    assert listed == ["linux/amd64", "linux/arm64/v8"]
    # pushed with its images, then read back by skopeo
    dest = registry.ref(registry.repo("app"), "1")
    push_list(store, "app", dest, dest_options=TransportOptions(tls_verify=False))
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", "--tls-verify=false", dest], capture_output=True, check=True
    ).stdout
    assert raw == store.manifest_lists.get("app").index().raw
    for arch in ("amd64", "arm64"):
        seen = subprocess.run(
            [SKOPEO, "inspect", "--tls-verify=false", "--override-arch", arch, dest],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert json.loads(seen)["Architecture"] == arch
    out = tmp_path / "copied"
    subprocess.run(
        [SKOPEO, "copy", "--quiet", "--all", "--src-tls-verify=false", dest, f"oci:{out}:x"],
        check=True,
    )
    # the arm64 image runs, through qemu, after a pull of that platform
    other = Store(tmp_path / "other")
    pulled = pull(f"oci:{out}:x", store=other, platform=Platform.parse("linux/arm64"))
    assert config_of(other, pulled.id)["architecture"] == "arm64"
    ran = subprocess.run(
        [sys.executable, "-m", "boxwright", "--root", str(tmp_path / "other"), "run", "--rm",
         pulled.id, "/bin/busybox", "uname", "-m"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, "aarch64\n"), ran.stderr


def test_build_cli_platform_flags(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from boxwright.cli.main import main

    ctx = write_context(tmp_path / "ctx", "FROM scratch\nARG TARGETARCH\nCOPY f /f\n", {"f": "x"})
    root = str(tmp_path / "root")

    def build(*args: str) -> Any:
        return CliRunner().invoke(main, ["--root", root, "build", "-q", *args, str(ctx)])

    several = build("--platform", "linux/amd64,linux/arm/v7")
    assert several.exit_code == 1
    assert several.stderr == (
        "Error: a build for several platforms needs --manifest LIST to hold them\n"
    )
    mixed = build("--platform", "linux/amd64", "--arch", "arm64")
    assert mixed.exit_code == 2
    assert "--arch, --os and --variant go without --platform" in mixed.stderr
    made = build("--platform", "linux/amd64", "--platform", "linux/arm/v7", "--manifest", "app")
    assert made.exit_code == 0, made.stderr
    store = Store(tmp_path / "root")
    record = store.manifest_lists.get("app")
    assert made.stdout == f"{record.id}\n"
    assert [str(i.descriptor.platform) for i in record.instances] == [
        "linux/amd64",
        "linux/arm/v7",
    ]
    again = build("--arch", "arm", "--variant", "v7", "--manifest", "app")
    assert again.exit_code == 0, again.stderr
    # one image per platform: the rebuild replaced the arm/v7 entry (the same image, cached)
    assert [str(i.descriptor.platform) for i in store.manifest_lists.get("app").instances] == [
        "linux/amd64",
        "linux/arm/v7",
    ]


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_build_manifest_push_pushes_the_list_with_every_platform(
    tmp_path: Path, registry: Any
) -> None:
    from click.testing import CliRunner

    from boxwright.cli.main import main

    ctx = write_context(tmp_path / "ctx", "FROM scratch\nARG TARGETARCH\nCOPY f /f\n", {"f": "x"})
    root = str(tmp_path / "root")
    name = f"{registry.host}/{registry.repo('built')}:1"

    def build(*args: str) -> Any:
        return CliRunner().invoke(main, ["--root", root, "build", "-q", *args, str(ctx)])

    refused = build("--push", "--platform", "linux/amd64")
    assert (refused.exit_code, refused.stderr) == (
        2,
        "Usage: boxwright build [OPTIONS] CONTEXT|URL|-\n"
        "Try 'boxwright build --help' for help.\n\n"
        "Error: --push needs at least one -t NAME or --manifest LIST to push\n",
    )
    made = build(
        "--platform", "linux/amd64,linux/arm/v7", "--manifest", name, "--push",
        "--tls-verify=false",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    record = Store(tmp_path / "root").manifest_lists.get(name)
    assert made.stdout == f"{record.id}\n"
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == record.index().raw
    for inst in record.instances:  # each platform's image is in the registry
        by_digest = f"docker://{name.rpartition(':')[0]}@{inst.digest}"
        done = subprocess.run(
            [SKOPEO, "inspect", "--raw", "--tls-verify=false", by_digest],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr


SHARED = """\
FROM --platform=$BUILDPLATFORM {base} AS tools
RUN echo tools-ran && /bin/busybox uname -m > /built-on
FROM --platform=$BUILDPLATFORM {base} AS gen
ARG TARGETARCH
RUN echo gen-ran-$TARGETARCH && echo $TARGETARCH > /gen
FROM scratch
COPY --from=tools /built-on /built-on
COPY --from=gen /gen /gen
"""


def test_no_cache_runs_a_build_platform_stage_once(
    tmp_path: Path, busybox_platforms: BusyboxPlatforms
) -> None:
    store = Store(tmp_path / "store")
    ctx = write_context(tmp_path / "ctx", SHARED.format(base=busybox_platforms.ref("amd64")))
    platforms = parse_platforms(["linux/amd64,linux/arm64"])
    for name in ("app", "again"):  # the second build shares nothing with the first
        events: list[BuildEvent] = []
        options = BuildOptions(context=ctx, no_cache=True, on_event=events.append)
        made = build_platforms(options, platforms, name, store)
        ran = sorted(e.text for e in events if "-ran" in e.text and "RUN" not in e.text)
        # the stage without TARGET* args once; the one that reads TARGETARCH per platform
        assert ran == [
            "[linux/amd64] gen-ran-amd64",
            "[linux/amd64] tools-ran",
            "[linux/arm64] gen-ran-arm64",
        ]
        trees = {str(p): tree_of(store, r.image_id) for p, r in made.results}
        assert {p: (t["built-on"][4], t["gen"][4]) for p, t in trees.items()} == {
            "linux/amd64": ("x86_64\n", "amd64\n"),
            "linux/arm64": ("x86_64\n", "arm64\n"),
        }


def test_from_a_stored_image_of_another_platform(
    tmp_path: Path, busybox_platforms: BusyboxPlatforms, registry: Any
) -> None:
    from boxwright.copy.pipeline import CopyOptions, copy_image
    from boxwright.errors import PlatformNotFoundError

    plain = TransportOptions(tls_verify=False)
    store = Store(tmp_path / "store")
    amd = pull(busybox_platforms.ref("amd64"), store=store, name="bb")
    arm64 = "linux/arm64"

    def build_from(base: str) -> Any:
        ctx = write_context(tmp_path / "ctx", f"FROM {base}\nENV A=1\n")
        options = BuildOptions(context=ctx, platform=arm64, registry_options=plain)
        return build_platforms(options, [Platform.parse(arm64)], None, store).results[0][1]

    # a local image (by its localhost name or its ID): no registry to pull the platform from
    for base in ("bb", amd.id[:12]):
        with pytest.raises(PlatformNotFoundError) as refused:
            build_from(base)
        assert str(refused.value) == (
            f"FROM {base}: the store's image is for linux/amd64, not linux/arm64, and no "
            "registry holds it; build or pull it for linux/arm64 "
            "(boxwright pull --platform linux/arm64 REF)"
        )
    # a registry's name: the platform asked is pulled from there, as podman does
    multi = f"{registry.host}/{registry.repo('bb')}:1"
    copy_image(
        busybox_platforms.ref("multi"),
        f"docker://{multi}",
        CopyOptions(all_platforms=True, dest_options=plain),
    )
    pull(f"docker://{multi}", store=store, name=multi, src_options=plain)  # amd64
    built = build_from(multi)
    assert config_of(store, built.image_id)["architecture"] == "arm64"
    assert config_of(store, multi)["architecture"] == "arm64"  # the name moved, as in podman
    # a registry's name whose registry has no image for the platform
    single = f"{registry.host}/{registry.repo('amd')}:1"
    copy_image(
        busybox_platforms.ref("amd64"), f"docker://{single}", CopyOptions(dest_options=plain)
    )
    pull(f"docker://{single}", store=store, name=single, src_options=plain)
    with pytest.raises(PlatformNotFoundError) as refused:
        build_from(single)
    assert str(refused.value) == (
        f"FROM {single}: the store's image is for linux/amd64, not linux/arm64, and "
        f"docker://{single} is for linux/amd64 too"
    )
