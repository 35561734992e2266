"""``inspect_image`` and friends against ``skopeo inspect`` on peer-made images.

The documented differences: boxwright prints ``LayersData`` (skopeo 1.9.3 does not; newer
skopeo does), which is checked against the manifest instead.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import InvalidReferenceError, UnsupportedMediaTypeError, UsageError
from boxwright.inspect import (
    InspectInfo,
    config,
    go_json_indent,
    inspect_image,
    raw_config,
    raw_manifest,
    render_template,
)
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform

SKOPEO = shutil.which("skopeo")
FORMATS = ["oci", "oci-zstd", "oci-archive", "docker-archive", "dir"]


def skopeo(*args: str) -> str:
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    done = subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def skopeo_bytes(*args: str) -> bytes:
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    done = subprocess.run([SKOPEO, *args], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("fmt", FORMATS)
def test_summary_equals_skopeo(peer_images: Any, fmt: str) -> None:
    ref = peer_images.refs[fmt]
    info = inspect_image(ref)
    ours = info.to_dict()
    layers_data = ours.pop("LayersData")
    theirs = json.loads(skopeo("inspect", ref))
    theirs.pop("LayersData", None)  # newer skopeo prints it; 1.9.3 does not
    assert ours == theirs
    manifest = json.loads(raw_manifest(ref))
    assert layers_data == [
        {
            "MIMEType": layer["mediaType"],
            "Digest": layer["digest"],
            "Size": layer["size"],
            "Annotations": layer.get("annotations") or None,
        }
        for layer in manifest["layers"]
    ]
    assert info.digest == Digest.from_bytes(raw_manifest(ref))


@pytest.mark.parametrize("fmt", FORMATS)
def test_json_text_matches_skopeo_apart_from_layers_data(peer_images: Any, fmt: str) -> None:
    ref = peer_images.refs[fmt]
    info = inspect_image(ref)
    without = InspectInfo(**{**_fields(info), "layers_data": ()}).to_dict()
    del without["LayersData"]
    assert go_json_indent(without) + "\n" == skopeo("inspect", ref)


def _fields(info: InspectInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in InspectInfo.__dataclass_fields__}


@pytest.mark.parametrize("fmt", FORMATS)
def test_raw_and_config_equal_skopeo(peer_images: Any, fmt: str) -> None:
    ref = peer_images.refs[fmt]
    assert raw_manifest(ref) == skopeo_bytes("inspect", "--raw", ref)
    assert raw_config(ref) == skopeo_bytes("inspect", "--config", "--raw", ref)
    assert go_json_indent(config(ref).data) + "\n" == skopeo("inspect", "--config", ref)


def test_docker_archive_name_is_reported(peer_images: Any) -> None:
    ref = f"docker-archive:{peer_images.docker_archive}:{peer_images.docker_name}"
    info = inspect_image(ref)
    assert info.name == "localhost/boxwright-test"
    assert info.to_dict() | {"LayersData": None} == json.loads(skopeo("inspect", ref)) | {
        "LayersData": None
    }


def test_index_digest_and_raw_are_the_index(
    peer_images: Any, tmp_path: Path, oci_index_writer: Any
) -> None:
    layout = tmp_path / "layout"
    shutil.copytree(peer_images.oci, layout)
    oci_index_writer(
        layout,
        [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}],
        "multi",
        source_ref=peer_images.tag,
    )
    ref = f"oci:{layout}:multi"
    raw = raw_manifest(ref)
    assert json.loads(raw)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert raw == skopeo_bytes("inspect", "--raw", ref)
    arm = inspect_image(ref, Platform("linux", "arm64"))
    assert arm.digest == Digest.from_bytes(raw)
    assert arm.architecture == "arm64"
    assert inspect_image(ref, Platform("linux", "amd64")).architecture == "amd64"
    ours = inspect_image(ref).to_dict()
    del ours["LayersData"]
    assert ours == json.loads(skopeo("inspect", ref))


def test_artifacts_are_refused(tmp_path: Path) -> None:
    layout = tmp_path / "artifact"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob(data: bytes, media_type: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blob(b"{}", "application/vnd.example.config+json"),
        "layers": [blob(b"payload", "application/vnd.example.data")],
    }
    entry = blob(json.dumps(manifest).encode(), manifest["mediaType"])
    entry["annotations"] = {"org.opencontainers.image.ref.name": "art"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    with pytest.raises(UnsupportedMediaTypeError, match="not a container image"):
        inspect_image(f"oci:{layout}:art")
    assert json.loads(raw_manifest(f"oci:{layout}:art")) == manifest


def test_unknown_transport() -> None:
    with pytest.raises(InvalidReferenceError, match="unknown transport"):
        inspect_image("floppy:/dev/fd0")


# -- templates --------------------------------------------------------------------------------

INFO = InspectInfo(
    name="",
    digest=Digest.parse("sha256:" + "a" * 64),
    repo_tags=(),
    created="2024-01-02T03:04:05.5+01:00",
    docker_version="",
    labels={"b": "2", "a": "x<y"},
    architecture="arm64",
    os="linux",
    layers=(Digest.parse("sha256:" + "b" * 64),),
    layers_data=(),
    env=None,
    variant="v8",
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Os}}/{{.Architecture}}/{{.Variant}}", "linux/arm64/v8\n"),
        ("{{.Labels}}", "map[a:x<y b:2]\n"),
        ("{{json .Labels}}", '{"a":"x\\u003cy","b":"2"}\n'),
        ('{{index .Labels "b"}} {{.Labels.a}} {{.Labels.zz}}', "2 x<y <no value>\n"),
        ("{{.Env}} {{.RepoTags}} {{.Name}}|", "[] [] |\n"),
        ("{{.Created}}", "2024-01-02 03:04:05.5 +0100 +0100\n"),
        ("{{ .Layers }}\\t{{json .Layers}}", f'[sha256:{"b" * 64}]\t["sha256:{"b" * 64}"]\n'),
        ("{{json .Env}}\n", "null\n"),
        ("{{range .Layers}}x{{end}}", "x\n"),
        ('{{printf "%s-%d" .Os 3}}', "linux-3\n"),
        ("{{if .Labels.a}}{{upper .Os}}{{else}}none{{end}}", "LINUX\n"),
    ],
)
def test_template_forms(template: str, expected: str) -> None:
    assert render_template(INFO, template) == expected


def test_template_json_of_everything() -> None:
    out = json.loads(render_template(INFO, "{{json .}}"))
    assert out == INFO.to_dict()


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Nope}}", "can't evaluate field Nope in type inspect.Output"),
        ("{{.Os.Deeper}}", "can't evaluate field Deeper in type string"),
        ('{{template "x"}}', "not supported"),
        ("{{nosuch .Os}}", 'function "nosuch" not defined'),
    ],
)
def test_template_refuses_what_it_does_not_support(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_template(INFO, template)


@pytest.mark.parametrize(
    "template",
    ["{{.Name}}|{{.Digest}}|{{.Labels}}|{{.Layers}}|{{.Created}}|{{.Env}}|{{.RepoTags}}|{{.Os}}"],
)
def test_template_output_equals_skopeo(peer_images: Any, template: str) -> None:
    ref = peer_images.refs["oci"]
    assert render_template(inspect_image(ref), template) == skopeo(
        "inspect", "--format", template, ref
    )
