"""The final image's edits and outputs (:mod:`boxwright.build.finish`): ``labels``,
``annotations``, ``unsetenv``, ``omit_history``, ``identity_label``, ``iidfile`` and
``outputs`` of :class:`~boxwright.build.context.BuildOptions`."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from boxwright import __version__
from boxwright.build.context import BuildEvent, BuildOutput
from boxwright.errors import UsageError
from boxwright.oci.manifest import ImageManifest
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, config_of, history_of, run_build, write_context

NOP = "/bin/sh -c #(nop) "


def _manifest(store: Store, image: str) -> ImageManifest:
    return ImageManifest.parse(store.images.manifest(store.images.get(image)))


def test_labels_annotations_unsetenv_edit_the_final_image_only(
    bstore: Store, tmp_path: Path
) -> None:
    text = f"FROM {BASE}\nENV KEEP=1 DROP=2\nLABEL a=file b=file\nRUN echo $DROP > /drop\n"
    ctx = write_context(tmp_path / "ctx", text)
    plain = run_build(bstore, ctx, timestamp=0)
    events: list[BuildEvent] = []
    edited = run_build(
        bstore,
        ctx,
        events,
        timestamp=0,
        labels={"a": "cli", "c": ""},
        annotations={"org.example.note": "hi"},
        unsetenv=("DROP",),
    )
    cfg = config_of(bstore, edited.image_id)["config"]
    assert cfg["Labels"] == {"a": "cli", "b": "file", "c": ""}
    assert cfg["Env"] == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "KEEP=1"]
    # the RUN still saw the variable; every step came from the cache; no history entry added
    assert len([e for e in events if e.kind == "cache"]) == 1
    assert history_of(bstore, edited.image_id) == history_of(bstore, plain.image_id)
    manifest = _manifest(bstore, edited.image_id)
    assert manifest.annotations["org.example.note"] == "hi"
    assert manifest.layers == _manifest(bstore, plain.image_id).layers
    assert edited.image_id != plain.image_id
    from boxwright_testing.builds import tree_of

    assert tree_of(bstore, edited.image_id)["drop"][4] == "2\n"


def test_annotations_are_left_out_of_a_docker_image_with_a_warning(
    bstore: Store, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\n")
    events: list[BuildEvent] = []
    result = run_build(bstore, ctx, events, format="docker", annotations={"k": "v"})
    assert _manifest(bstore, result.image_id).annotations == {}
    assert [e.text for e in events if e.kind == "warning"] == [
        "--annotation: a Docker schema 2 image has no annotations; they are left out"
    ]


def test_omit_history_and_identity_label(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo x > /x\n")
    result = run_build(bstore, ctx, omit_history=True, identity_label=True)
    config = config_of(bstore, result.image_id)
    assert "history" not in config
    assert len(config["rootfs"]["diff_ids"]) == 2
    assert config["config"]["Labels"] == {"io.buildah.version": __version__}
    default = run_build(bstore, ctx)
    assert "Labels" not in config_of(bstore, default.image_id)["config"]


def test_iidfile_holds_the_final_image_id(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\n")
    iid = tmp_path / "iid"
    result = run_build(bstore, ctx, iidfile=iid, labels={"x": "y"}, tags=("localhost/iid:1",))
    assert iid.read_bytes() == f"sha256:{result.image_id}".encode()
    assert bstore.images.get("localhost/iid:1").id == result.image_id


def test_outputs_write_the_final_stage_files(bstore: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE} AS build\nRUN mkdir /out && echo built > /out/app && chmod 0750 /out/app\n"
        "FROM scratch\nCOPY --from=build /out/ /\nCOPY --chown=7:8 note.txt /doc/\n"
    )
    ctx = write_context(tmp_path / "ctx", text, {"note.txt": "note\n"})
    local, tar = tmp_path / "local", tmp_path / "out.tar"
    outputs = (BuildOutput("local", local), BuildOutput("tar", tar))
    run_build(bstore, ctx, outputs=outputs, source_date_epoch=86400)
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*")) == [
        "app",
        "doc",
        "doc/note.txt",
    ]
    assert (local / "app").read_text() == "built\n"
    assert (local / "app").stat().st_mode & 0o7777 == 0o750
    assert (local / "doc" / "note.txt").stat().st_uid == (7 if os.geteuid() == 0 else os.geteuid())
    assert {int(p.lstat().st_mtime) for p in [local, *local.rglob("*")]} == {86400}
    with tarfile.open(tar) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == ["app", "doc", "doc/note.txt"]
        note = members["doc/note.txt"]
        assert (note.uid, note.gid, note.mtime) == (7, 8, 86400)
        reader = archive.extractfile(note)
        assert reader is not None and reader.read() == b"note\n"


def test_output_tar_to_a_stream(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY a.txt /\n", {"a.txt": "a\n"})
    stream = io.BytesIO()
    run_build(bstore, ctx, outputs=(BuildOutput("tar", None, stream),))
    with tarfile.open(fileobj=io.BytesIO(stream.getvalue())) as archive:
        assert archive.getnames() == ["a.txt"]


@pytest.mark.parametrize(
    ("text", "kind", "dest"),
    [
        ("type=local,dest=out", "local", "out"),
        ("type=tar,dest=o.tar", "tar", "o.tar"),
        ("dest=d", "local", "d"),
        ("some/dir", "local", "some/dir"),
    ],
)
def test_output_values_parse_as_podman_reads_them(text: str, kind: str, dest: str) -> None:
    assert BuildOutput.parse(text) == BuildOutput(kind, Path(dest))  # type: ignore[arg-type]


def test_output_dash_is_a_tar_on_the_stream() -> None:
    stream = io.BytesIO()
    assert BuildOutput.parse("-", stream) == BuildOutput("tar", None, stream)
    assert BuildOutput.parse("type=tar,dest=-", stream) == BuildOutput("tar", None, stream)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "type=image,dest=x",
            "--output 'type=image,dest=x': type must be local or tar, not 'image'",
        ),
        ("type=local", "--output 'type=local': needs dest=PATH"),
        ("type=local,dest=-", "--output 'type=local,dest=-': only type=tar can go to stdout (-)"),
        (
            "type=tar,dest=a,compression=gzip",
            "--output 'type=tar,dest=a,compression=gzip': expected type=local|tar,dest=PATH, "
            "a directory or -",
        ),
    ],
)
def test_bad_output_values_are_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        BuildOutput.parse(text, io.BytesIO())
    assert str(caught.value) == message


def test_no_edit_keeps_the_built_image(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo x > /x\n")
    result = run_build(bstore, ctx)
    history = json.loads(bstore.images.config(bstore.images.get(result.image_id)).raw)["history"]
    assert history[-1]["created_by"] == "/bin/sh -c echo x > /x"
    assert result.image_id == run_build(bstore, ctx).image_id
