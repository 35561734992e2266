"""Manifest lists in the store: create, add, annotate, remove, inspect, push, rm, images.

The pushed lists are read back by the real peers: ``skopeo inspect --raw`` (the exact index
bytes), ``skopeo copy --all`` (every image of the list), ``podman manifest inspect``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import ImageNotFoundError, RegistryError, StoreError
from boxwright.oci import mediatype as mt
from boxwright.store import Store
from boxwright.store.gc import prune
from boxwright.store.manifestops import (
    PlatformEdit,
    add_to_list,
    push_list,
    remove_instance,
    tag,
)
from boxwright.store.pullpush import pull
from boxwright.store.removal import prune_images
from boxwright.transport.options import TransportOptions
from boxwright_testing.builds import run_build, write_context
from boxwright_testing.multiarch import BusyboxPlatforms
from boxwright_testing.podman import podman_or_skip
from boxwright_testing.store_images import MadeImage

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
PLAIN = TransportOptions(tls_verify=False)


def _two_images(store: Store, make_image: Callable[..., MadeImage]) -> tuple[MadeImage, MadeImage]:
    amd, arm = make_image("amd"), make_image("arm")
    pull(amd.ref, store=store, name="app-amd64")
    pull(arm.ref, store=store, name="app-arm64")
    return amd, arm


def test_cli_create_add_annotate_inspect_remove_rm(
    cli: Callable[..., Any], make_image: Callable[..., MadeImage]
) -> None:
    amd, arm = make_image("amd"), make_image("arm")
    assert cli("pull", "-q", amd.ref).exit_code == 0
    created = cli("manifest", "create", "app:1")
    assert created.exit_code == 0, created.stderr
    list_id = created.stdout.strip()
    assert len(list_id) == 64
    added = cli("manifest", "add", "app:1", "localhost/" + str(amd.layout).lstrip("/"))
    assert (added.exit_code, added.stdout) == (0, f"{list_id}\n"), added.stderr
    added = cli("manifest", "add", "--arch", "aarch64", "--annotation", "k=v", "app:1", arm.ref)
    assert (added.exit_code, added.stdout) == (0, f"{list_id}\n"), added.stderr
    annotated = cli(
        "manifest", "annotate", "--os-version", "1.0", "--features", "sse4,avx",
        "app:1", arm.manifest_digest,
    )  # fmt: skip
    assert annotated.exit_code == 0, annotated.stderr
    shown = cli("manifest", "inspect", "app:1")
    assert shown.exit_code == 0, shown.stderr
    arm_size = len((arm.layout / "blobs" / "sha256" / arm.manifest_digest[7:]).read_bytes())
    amd_size = len((amd.layout / "blobs" / "sha256" / amd.manifest_digest[7:]).read_bytes())
    assert shown.stdout == (
        "{\n"
        '    "schemaVersion": 2,\n'
        '    "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",\n'
        '    "manifests": [\n'
        "        {\n"
        '            "mediaType": "application/vnd.oci.image.manifest.v1+json",\n'
        f'            "size": {amd_size},\n'
        f'            "digest": "{amd.manifest_digest}",\n'
        '            "platform": {\n'
        '                "architecture": "amd64",\n'
        '                "os": "linux"\n'
        "            }\n"
        "        },\n"
        "        {\n"
        '            "mediaType": "application/vnd.oci.image.manifest.v1+json",\n'
        f'            "size": {arm_size},\n'
        f'            "digest": "{arm.manifest_digest}",\n'
        '            "platform": {\n'
        '                "architecture": "arm64",\n'
        '                "os": "linux",\n'
        '                "os.version": "1.0",\n'
        '                "variant": "v8",\n'
        '                "features": [\n'
        '                    "sse4",\n'
        '                    "avx"\n'
        "                ]\n"
        "            },\n"
        '            "annotations": {\n'
        '                "k": "v"\n'
        "            }\n"
        "        }\n"
        "    ]\n"
        "}\n"
    )
    listed = cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert f"localhost/app:1 {list_id[:12]}\n" in listed.stdout
    removed = cli("manifest", "remove", "app:1", arm.manifest_digest)
    assert (removed.exit_code, removed.stdout) == (0, f"{list_id}\n")
    assert arm.manifest_digest not in cli("manifest", "inspect", "app:1").stdout
    gone = cli("manifest", "rm", "app:1")
    assert gone.stdout == f"Untagged: localhost/app:1\nDeleted: {list_id}\n"
    missing = cli("manifest", "remove", "app:1", arm.manifest_digest)
    assert missing.exit_code == 1
    assert "no manifest list 'app:1'" in missing.stderr


def test_a_name_is_one_image_or_one_list(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    _two_images(store, make_image)
    with pytest.raises(StoreError, match="localhost/app-amd64:latest is already associated"):
        store.manifest_lists.create(["app-amd64"])
    store.manifest_lists.create(["app"])
    with pytest.raises(StoreError, match="a manifest list named localhost/app:latest exists"):
        store.manifest_lists.create(["app"])
    with pytest.raises(ImageNotFoundError, match="has no instance sha256:"):
        remove_instance(store, "app", "sha256:" + "0" * 64)


def test_add_all_from_an_index_keeps_its_platforms(
    store: Store,
    make_image: Callable[..., MadeImage],
    oci_index_writer: Callable[..., dict[str, Any]],
) -> None:
    layout = make_image("multi", tag="base").layout
    platforms = [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm", "variant": "v7"},
    ]
    oci_index_writer(layout, platforms, "m", "base")
    store.manifest_lists.create(["multi"], mt.OCI_INDEX)
    _, one = add_to_list(store, "multi", f"oci:{layout}:m")
    record, every = add_to_list(store, "multi", f"oci:{layout}:m", all=True)
    platforms = [str(i.descriptor.platform) for i in record.instances]
    assert platforms == ["linux/amd64", "linux/arm/v7"]
    assert one == every[:1]
    assert [i.source for i in record.instances] == [f"oci:{layout}:m"] * 2


@needs_skopeo
def test_push_is_read_back_by_skopeo_and_podman(
    store: Store, make_image: Callable[..., MadeImage], plain_registry: Any, tmp_path: Path
) -> None:
    amd, arm = _two_images(store, make_image)
    store.manifest_lists.create(["app"])
    add_to_list(store, "app", "app-amd64")
    add_to_list(store, "app", "app-arm64", edit=PlatformEdit(architecture="arm64", variant="v8"))
    # the images may go: the list keeps what it needs
    store.images.remove("app-amd64")
    store.images.remove("app-arm64")
    prune(store)
    dest = plain_registry.ref(plain_registry.repo("list"), "1")
    result = push_list(store, "app", dest, dest_options=PLAIN)
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", "--tls-verify=false", dest],
        capture_output=True,
        check=True,
    ).stdout
    index = store.manifest_lists.get("app").index()
    assert raw == index.raw
    assert str(result.digest) == str(index.digest)
    listed = json.loads(raw)
    assert listed["mediaType"] == mt.DOCKER_LIST
    assert [(m["digest"], m["platform"]) for m in listed["manifests"]] == [
        (amd.manifest_digest, {"architecture": "amd64", "os": "linux"}),
        (arm.manifest_digest, {"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ]
    out = tmp_path / "copied"
    subprocess.run(
        [SKOPEO, "copy", "--quiet", "--all", "--src-tls-verify=false", dest, f"oci:{out}:x"],
        check=True,
    )
    top = json.loads((out / "index.json").read_text())["manifests"][0]
    copied = json.loads((out / "blobs" / "sha256" / top["digest"][7:]).read_bytes())
    assert [m["digest"] for m in copied["manifests"]] == [amd.manifest_digest, arm.manifest_digest]
    podman = podman_or_skip(tmp_path / "podman")
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{plain_registry.host}"\ninsecure = true\n')
    podman.env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    seen = json.loads(podman.out("manifest", "inspect", dest[9:]))
    assert [m["digest"] for m in seen["manifests"]] == [amd.manifest_digest, arm.manifest_digest]


@needs_skopeo
def test_push_as_oci_converts_the_index_and_keeps_annotations(
    store: Store, make_image: Callable[..., MadeImage], plain_registry: Any
) -> None:
    _two_images(store, make_image)
    store.manifest_lists.create(["app"])
    add_to_list(store, "app", "app-amd64", annotations={"org.example": "1"})
    dest = plain_registry.ref(plain_registry.repo("oci"), "1")
    push_list(store, "app", dest, format="oci", dest_options=PLAIN)
    raw = subprocess.run(
        [SKOPEO, "inspect", "--raw", "--tls-verify=false", dest], capture_output=True, check=True
    ).stdout
    seen = json.loads(raw)
    assert seen["mediaType"] == mt.OCI_INDEX
    assert seen["manifests"][0]["annotations"] == {"org.example": "1"}
    only_index = plain_registry.ref(plain_registry.repo("oci"), "2")
    # without --all the index goes alone: a registry refuses one whose images it lacks
    with pytest.raises(RegistryError, match=r"HTTP 400 .*MANIFEST_BLOB_UNKNOWN"):
        push_list(store, "app", only_index, all=False, dest_options=PLAIN)


def test_run_from_and_pull_take_the_platform_asked(
    tmp_path: Path, busybox_platforms: BusyboxPlatforms, arm64_emulation: None
) -> None:
    root = tmp_path / "root"

    def boxwright(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "boxwright", "--root", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    for arch in ("amd64", "arm64"):
        image_id = boxwright("pull", "-q", busybox_platforms.ref(arch)).stdout.strip()
        assert boxwright("tag", image_id, f"bb-{arch}").returncode == 0
    assert boxwright("manifest", "create", "bb", "bb-amd64", "bb-arm64").returncode == 0
    uname = ["/bin/busybox", "uname", "-m"]
    ran = boxwright("run", "--rm", "--arch", "arm64", "bb", *uname)
    assert (ran.returncode, ran.stdout) == (0, "aarch64\n"), ran.stderr
    ran = boxwright("run", "--rm", "bb", *uname)  # this machine's platform
    assert (ran.returncode, ran.stdout) == (0, "x86_64\n"), ran.stderr
    made = boxwright("container", "from", "-q", "--platform", "linux/arm64", "bb")
    assert made.returncode == 0, made.stderr
    shown = boxwright("container", "inspect", made.stdout.strip())
    assert '"architecture": "arm64"' in shown.stdout
    wrong = boxwright("run", "--rm", "--platform", "linux/arm64", "bb-amd64", *uname)
    assert wrong.returncode == 1
    assert wrong.stderr == (
        "Error: image 'bb-amd64' is for linux/amd64, not linux/arm64; pull that platform "
        "(boxwright pull --platform linux/arm64 REF)\n"
    )
    pulled = boxwright("pull", "-q", "--arch", "arm64", busybox_platforms.ref("multi"))
    assert pulled.returncode == 0, pulled.stderr
    store = Store(root)
    config = store.images.config(store.images.get(pulled.stdout.strip()))
    assert (config.architecture, config.variant) == ("arm64", "v8")


def test_images_json_lists_the_lists(
    cli: Callable[..., Any], store_root: Path, make_image: Callable[..., MadeImage]
) -> None:
    amd = make_image("amd")
    image_id = cli("pull", "-q", amd.ref).stdout.strip()
    created = cli("manifest", "create", "--format", "oci", "app:1", f"store:{image_id}")
    assert created.exit_code == 0, created.stderr
    record = Store(store_root).manifest_lists.get("app:1")
    index = record.index()
    data = json.loads(cli("images", "--format", "json").stdout)
    assert [d["Id"] for d in data] == [amd.id, record.id]
    epoch = int(datetime.fromisoformat(record.created.replace("Z", "+00:00")).timestamp())
    assert data[1] == {
        "Id": record.id,
        "Digest": str(index.digest),
        "RepoTags": ["localhost/app:1"],
        "RepoDigests": [f"localhost/app@{index.digest}"],
        "Names": ["localhost/app:1"],
        "Created": epoch,
        "CreatedAt": record.created,
        "Size": len(index.raw),
        "Layers": [],
        "MediaType": mt.OCI_INDEX,
        "Added": record.created,
    }
    only = json.loads(cli("images", "--format", "json", "--filter", "reference=app").stdout)
    assert [d["Id"] for d in only] == [record.id]
    labelled = json.loads(cli("images", "--format", "json", "--filter", "label=a").stdout)
    assert labelled == []


def test_rmi_removes_a_list_and_rmi_all_every_list(
    cli: Callable[..., Any], store_root: Path, make_image: Callable[..., MadeImage]
) -> None:
    image_id = cli("pull", "-q", make_image("amd").ref).stdout.strip()
    one = cli("manifest", "create", "one", f"store:{image_id}").stdout.strip()
    assert cli("tag", "one", "one:2").exit_code == 0
    assert Store(store_root).manifest_lists.get("one:2").id == one
    # by one of several names only that name goes, as for an image
    untagged = cli("rmi", "one:2")
    assert (untagged.exit_code, untagged.stdout) == (0, "Untagged: localhost/one:2\n")
    removed = cli("rmi", "one")
    assert (removed.exit_code, removed.stdout) == (
        0,
        f"Untagged: localhost/one:latest\nDeleted: {one}\n",
    )
    assert Store(store_root).images.exists(image_id)  # the image stays
    two = cli("manifest", "create", "two").stdout.strip()
    everything = cli("rmi", "-a")
    assert everything.stdout == (
        f"Untagged: localhost/{str(make_image('amd').layout).lstrip('/')}:latest\n"
        f"Deleted: {image_id}\n"
        "Untagged: localhost/two:latest\n"
        f"Deleted: {two}\n"
    )
    assert Store(store_root).manifest_lists.list() == []


def test_a_name_moves_between_images_and_lists(
    store: Store, make_image: Callable[..., MadeImage], tmp_path: Path
) -> None:
    amd, arm = _two_images(store, make_image)
    app = store.manifest_lists.create(["app"])
    tag(store, "app-amd64", "app")  # an image tagged with a list's name takes it
    assert store.manifest_lists.get(app.id).names == ()
    assert store.images.get("app").id == amd.id
    tag(store, app.id, "app", "app:2")  # a list tagged with an image's name takes it back
    assert store.manifest_lists.get("app").names == ("localhost/app:latest", "localhost/app:2")
    assert store.images.get(amd.id).names == ("localhost/app-amd64:latest",)
    pull(arm.ref, store=store, name="app:2")  # pull and build -t name through the same add
    assert store.manifest_lists.get("app").names == ("localhost/app:latest",)
    ctx = write_context(tmp_path / "ctx", "FROM app-amd64\nENV A=1\n")
    run_build(store, ctx, tags=("app",))
    assert store.manifest_lists.get(app.id).names == ()
    # a list with no name is dangling: prune removes it, and -a removes named ones too
    named = store.manifest_lists.create(["kept"])
    assert prune_images(store) == [app.id]
    assert [r.id for r in store.manifest_lists.list()] == [named.id]
    assert prune_images(store, all=True)[0] == named.id
    assert store.manifest_lists.list() == []


def test_a_tag_moves_a_name_off_a_list_as_in_podman(
    cli: Callable[..., Any], make_image: Callable[..., MadeImage], tmp_path: Path
) -> None:
    podman = podman_or_skip(tmp_path / "podman")
    amd = make_image("amd")
    fmt = "{{.Names}} {{.Dangling}}\n"
    steps = [("pull", "-q", amd.ref), ("tag", amd.id, "bb"), ("manifest", "create", "app")]
    steps.append(("tag", "bb", "app"))
    for step in steps:
        podman.run(*step)
        assert cli(*step).exit_code == 0, step
    seen = {
        "podman": podman.out("images", "--format", fmt),
        "ours": cli("images", "--format", fmt).stdout,
    }
    podman.run("image", "prune", "-f")
    assert cli("prune", "-f").exit_code == 0
    seen["podman"] += podman.out("images", "--format", fmt)
    seen["ours"] += cli("images", "--format", fmt).stdout
    layout = f"localhost/{str(amd.layout).lstrip('/')}:latest"
    names = f"[{layout} localhost/bb:latest localhost/app:latest] false"
    assert sorted(seen["podman"].splitlines()) == sorted(seen["ours"].splitlines())
    assert sorted(seen["ours"].splitlines()) == ["[] true", *[names] * 6]


@needs_skopeo
def test_inspect_of_an_oci_index_beside_podman(
    cli: Callable[..., Any],
    store_root: Path,
    make_image: Callable[..., MadeImage],
    plain_registry: Any,
    tmp_path: Path,
) -> None:
    podman = podman_or_skip(tmp_path / "podman")
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{plain_registry.host}"\ninsecure = true\n')
    podman.env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
    # an empty list: podman prints its nil slice as null
    assert cli("manifest", "create", "empty").exit_code == 0
    podman.run("manifest", "create", "empty")
    empty = cli("manifest", "inspect", "empty").stdout
    assert empty == podman.out("manifest", "inspect", "empty")
    assert empty == (
        "{\n"
        '    "schemaVersion": 2,\n'
        f'    "mediaType": "{mt.DOCKER_LIST}",\n'
        '    "manifests": null\n'
        "}\n"
    )
    amd, arm = make_image("amd"), make_image("arm")
    assert cli("manifest", "create", "--format", "oci", "app").exit_code == 0
    assert cli("manifest", "add", "app", amd.ref).exit_code == 0
    added = cli("manifest", "add", "--arch", "arm64", "--annotation", "k=v", "app", arm.ref)
    assert added.exit_code == 0, added.stderr
    dest = plain_registry.ref(plain_registry.repo("inspected"), "1")
    pushed = cli("manifest", "push", "-q", "--tls-verify=false", "app", dest)
    assert pushed.exit_code == 0, pushed.stderr
    local = cli("manifest", "inspect", "app").stdout
    remote = cli("manifest", "inspect", "--tls-verify=false", dest).stdout
    assert remote == local
    sizes = {
        m.manifest_digest: len((m.layout / "blobs/sha256" / m.manifest_digest[7:]).read_bytes())
        for m in (amd, arm)
    }
    assert remote == (
        "{\n"
        '    "schemaVersion": 2,\n'
        f'    "mediaType": "{mt.OCI_INDEX}",\n'
        '    "manifests": [\n'
        "        {\n"
        f'            "mediaType": "{mt.OCI_MANIFEST}",\n'
        f'            "size": {sizes[amd.manifest_digest]},\n'
        f'            "digest": "{amd.manifest_digest}",\n'
        '            "platform": {\n'
        '                "architecture": "amd64",\n'
        '                "os": "linux"\n'
        "            }\n"
        "        },\n"
        "        {\n"
        f'            "mediaType": "{mt.OCI_MANIFEST}",\n'
        f'            "size": {sizes[arm.manifest_digest]},\n'
        f'            "digest": "{arm.manifest_digest}",\n'
        '            "platform": {\n'
        '                "architecture": "arm64",\n'
        '                "os": "linux"\n'
        "            },\n"
        '            "annotations": {\n'
        '                "k": "v"\n'
        "            }\n"
        "        }\n"
        "    ]\n"
        "}\n"
    )
    # podman 4.3 prints an OCI index in its Docker list form, without annotations: the rest
    # is the same, byte for byte
    theirs = podman.out("manifest", "inspect", dest[len("docker://") :])
    docker_form = remote.replace(mt.OCI_INDEX, mt.DOCKER_LIST).replace(
        ',\n            "annotations": {\n                "k": "v"\n            }', ""
    )
    assert theirs == docker_form
