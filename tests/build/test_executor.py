"""The executor end to end on a busybox base: every instruction, layers and history, multi-stage,
mounts, ignore files, reproducibility. Each test builds in a fresh store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from boxwright.build.context import BuildEvent
from boxwright.errors import BuildError, UsageError
from boxwright.store.store import Store
from boxwright_testing.builds import (
    BASE,
    config_of,
    history_of,
    run_build,
    tree_of,
    write_context,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")
NOP = "/bin/sh -c #(nop) "


def test_single_stage_sets_every_config_field_and_history(bstore: Store, tmp_path: Path) -> None:
    containerfile = f"""FROM {BASE}
ARG GREETING=hello
ENV A=b WHO=${{GREETING}}
LABEL org.example.x="y z"
WORKDIR /app
COPY hello.txt ./
RUN echo "$WHO world" > out.txt && echo $A > a.txt
USER 1000:1000
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --retries=2 CMD test -f /app/out.txt
MAINTAINER Jane Doe
ONBUILD RUN touch /onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/out.txt"]
"""
    ctx = write_context(tmp_path / "ctx", containerfile, {"hello.txt": "hi\n"})
    events: list[BuildEvent] = []
    result = run_build(bstore, ctx, events, tags=("localhost/app:1",), timestamp=0)

    cfg = config_of(bstore, result.image_id)
    c = cfg["config"]
    assert c["Env"] == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "A=b", "WHO=hello"]
    assert c["Labels"] == {"org.example.x": "y z"}
    assert c["WorkingDir"] == "/app"
    assert c["User"] == "1000:1000"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert c["Volumes"] == {"/data": {}}
    assert c["StopSignal"] == "SIGINT"
    assert c["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -f /app/out.txt"],
        "Interval": 30_000_000_000,
        "Retries": 2,
    }
    assert c["OnBuild"] == ["RUN touch /onbuild"]
    assert c["Entrypoint"] == ["/bin/sh", "-c"]
    assert c["Cmd"] == ["cat /app/out.txt"]
    assert cfg["author"] == "Jane Doe"
    assert cfg["created"] == "1970-01-01T00:00:00Z"

    history = history_of(bstore, result.image_id)
    copy_entry = history[5][0]
    assert copy_entry.startswith(NOP + "COPY file:") and copy_entry.endswith(" in ./ ")
    assert history[1:] == [
        (NOP + "ARG GREETING=hello", True),
        (NOP + "ENV A=b WHO=${GREETING}", True),
        (NOP + 'LABEL org.example.x="y z"', True),
        (NOP + "WORKDIR /app", True),
        (copy_entry, False),
        ('|1 GREETING=hello /bin/sh -c echo "$WHO world" > out.txt && echo $A > a.txt', False),
        (NOP + "USER 1000:1000", True),
        (NOP + "EXPOSE 80 53/udp", True),
        (NOP + 'VOLUME ["/data"]', True),
        (NOP + "STOPSIGNAL SIGINT", True),
        (NOP + "HEALTHCHECK --interval=30s --retries=2 CMD test -f /app/out.txt", True),
        (NOP + "MAINTAINER Jane Doe", True),
        (NOP + "ONBUILD RUN touch /onbuild", True),
        (NOP + 'ENTRYPOINT ["/bin/sh", "-c"]', True),
        (NOP + 'CMD ["cat /app/out.txt"]', True),
    ]
    assert len(cfg["rootfs"]["diff_ids"]) == 3  # the base, COPY, RUN

    tree = tree_of(bstore, result.image_id)
    assert tree["app"][:4] == ("d", 0o755, 0, 0)
    assert tree["app/hello.txt"] == ("f", 0o644, 0, 0, "hi\n")
    assert tree["app/out.txt"] == ("f", 0o644, 0, 0, "hello world\n")
    assert tree["app/a.txt"][4] == "b\n"

    steps = [e.text for e in events if e.kind == "step"]
    assert steps[0] == f"STEP 1/16: FROM {BASE}"
    assert steps[-1] == 'STEP 16/16: CMD ["cat /app/out.txt"]'
    assert result.names == ("localhost/app:1",)
    assert result.steps == 16 and result.cache_hits == 0
    import json

    manifest = json.loads(bstore.images.manifest(bstore.images.get(result.image_id)))
    assert manifest["annotations"] == {
        "org.opencontainers.image.base.digest": str(bstore.images.get(BASE).manifest),
        "org.opencontainers.image.base.name": BASE,
    }


def test_build_args_override_defaults_and_shell_forms_use_shell(
    bstore: Store, tmp_path: Path
) -> None:
    containerfile = f"""FROM {BASE}
ARG V=default
SHELL ["/bin/sh", "-ec"]
RUN echo "$V" > /v.txt
RUN ["/bin/sh", "-c", "echo exec > /exec.txt"]
CMD echo run
"""
    ctx = write_context(tmp_path / "ctx", containerfile)
    result = run_build(bstore, ctx, build_args={"V": "given"})
    cfg = config_of(bstore, result.image_id)
    assert cfg["config"]["Cmd"] == ["/bin/sh", "-ec", "echo run"]
    assert cfg["config"]["Shell"] == ["/bin/sh", "-ec"]
    tree = tree_of(bstore, result.image_id)
    assert tree["v.txt"][4] == "given\n"
    assert tree["exec.txt"][4] == "exec\n"
    created = [h[0] for h in history_of(bstore, result.image_id)]
    assert '|1 V=given /bin/sh -c echo "$V" > /v.txt' in created
    assert '|1 V=given /bin/sh -c ["/bin/sh", "-c", "echo exec > /exec.txt"]' in created


def test_entrypoint_drops_inherited_cmd_but_not_one_set_in_the_stage(
    bstore: Store, tmp_path: Path
) -> None:
    parent = write_context(tmp_path / "p", f'FROM {BASE}\nCMD ["parent"]\n')
    run_build(bstore, parent, tags=("localhost/parent:1",))
    child = write_context(tmp_path / "c", 'FROM localhost/parent:1\nENTRYPOINT ["/bin/ls"]\n')
    cfg = config_of(bstore, run_build(bstore, child).image_id)["config"]
    assert cfg["Entrypoint"] == ["/bin/ls"] and "Cmd" not in cfg
    both = write_context(tmp_path / "b", 'FROM localhost/parent:1\nCMD ["x"]\nENTRYPOINT ["y"]\n')
    cfg = config_of(bstore, run_build(bstore, both).image_id)["config"]
    assert cfg["Entrypoint"] == ["y"] and cfg["Cmd"] == ["x"]


def test_onbuild_triggers_run_in_the_child_build_and_are_cleared(
    bstore: Store, tmp_path: Path
) -> None:
    parent = write_context(tmp_path / "p", f"FROM {BASE}\nONBUILD RUN echo fired > /fired\n")
    run_build(bstore, parent, tags=("localhost/onbuild:1",))
    child = write_context(tmp_path / "c", "FROM localhost/onbuild:1\nENV X=1\n")
    result = run_build(bstore, child)
    assert tree_of(bstore, result.image_id)["fired"][4] == "fired\n"
    assert "OnBuild" not in config_of(bstore, result.image_id)["config"]


def test_a_failing_run_names_the_line_and_exit_status(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n\nRUN exit 3\n")
    with pytest.raises(BuildError) as error:
        run_build(bstore, ctx)
    assert str(error.value).endswith(
        'Containerfile:3: building at STEP "RUN exit 3": exit status 3'
    )
    assert bstore.containers.list() == []


def test_timestamp_gives_the_same_digest_in_two_stores(tmp_path: Path, base_layout: Path) -> None:
    from boxwright.store.pullpush import pull

    ctx = write_context(
        tmp_path / "ctx",
        f"FROM {BASE}\nCOPY f.txt /f.txt\nRUN echo x > /x && touch /f.txt\nENV A=1\n",
        {"f.txt": "f\n"},
    )
    digests = []
    for name in ("one", "two"):
        store = Store(tmp_path / name)
        pull(f"oci:{base_layout}:1", store=store, name=BASE)
        digests.append(run_build(store, ctx, timestamp=1_700_000_000).digest)
    assert digests[0] == digests[1]


def test_source_date_epoch_is_the_default_timestamp(
    bstore: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\n")
    cfg = config_of(bstore, run_build(bstore, ctx).image_id)
    assert cfg["created"] == "1970-01-02T00:00:00Z"


def test_no_layers_and_squash(bstore: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE}\nRUN echo 1 > /one\nRUN echo 2 > /two\nENV A=1\n"
    ctx = write_context(tmp_path / "ctx", text)
    one = run_build(bstore, ctx, layers=False)
    assert len(config_of(bstore, one.image_id)["rootfs"]["diff_ids"]) == 2
    assert history_of(bstore, one.image_id)[1:] == [
        ("/bin/sh -c echo 1 > /one", True),
        ("/bin/sh -c echo 2 > /two", True),
        (NOP + "ENV A=1", False),
    ]
    squashed = run_build(bstore, ctx, squash=True)
    cfg = config_of(bstore, squashed.image_id)
    assert len(cfg["rootfs"]["diff_ids"]) == 1
    tree = tree_of(bstore, squashed.image_id)
    assert tree["one"][4] == "1\n" and tree["two"][4] == "2\n" and "bin/busybox" in tree


def test_from_scratch_copy_chown_chmod(bstore: Store, tmp_path: Path) -> None:
    text = "FROM scratch\nCOPY --chown=7:8 --chmod=0600 a.txt dir/ /out/\n"
    ctx = write_context(tmp_path / "ctx", text, {"a.txt": "a\n", "dir/b.txt": "b\n"})
    result = run_build(bstore, ctx)
    tree = tree_of(bstore, result.image_id)
    assert tree["out/a.txt"] == ("f", 0o600, 7, 8, "a\n")
    assert tree["out/b.txt"] == ("f", 0o600, 7, 8, "b\n")
    assert len(config_of(bstore, result.image_id)["rootfs"]["diff_ids"]) == 1


def test_ignore_file_excludes_paths_from_copies(bstore: Store, tmp_path: Path) -> None:
    files = {
        "app/keep.txt": "k\n",
        "app/secret.key": "s\n",
        "app/logs/x.log": "l\n",
        "top.key": "t\n",
        ".dockerignore": "**/*.key\napp/logs\n",
    }
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nCOPY . /ctx/\n", files)
    tree = tree_of(bstore, run_build(bstore, ctx).image_id)
    copied = sorted(p for p in tree if p.startswith("ctx/"))
    assert copied == ["ctx/.dockerignore", "ctx/Containerfile", "ctx/app", "ctx/app/keep.txt"]
    missing = write_context(tmp_path / "ctx", f"FROM {BASE}\nCOPY top.key /\n")
    with pytest.raises(BuildError, match=r"top\.key"):
        run_build(bstore, missing)


def test_copy_cannot_leave_the_context(bstore: Store, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("no\n")
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nCOPY ../outside.txt /\n")
    with pytest.raises(BuildError, match=r"outside\.txt"):
        run_build(bstore, ctx)


def test_multi_stage_copy_from_target_and_unneeded_stages(bstore: Store, tmp_path: Path) -> None:
    text = f"""FROM {BASE} AS builder
RUN echo built > /artifact
FROM {BASE} AS broken
RUN exit 1
FROM scratch AS final
COPY --from=builder /artifact /artifact
FROM builder AS other
RUN echo other > /other
"""
    ctx = write_context(tmp_path / "ctx", text)
    events: list[BuildEvent] = []
    result = run_build(bstore, ctx, events, target="final")
    tree = tree_of(bstore, result.image_id)
    assert tree == {"artifact": ("f", 0o644, 0, 0, "built\n")}
    assert set(result.stage_images) == {0, 2}
    assert not any("exit 1" in e.text for e in events)
    with pytest.raises(UsageError, match="no such stage"):
        run_build(bstore, ctx, target="nope")
    last = run_build(bstore, ctx, target="other")
    assert tree_of(bstore, last.image_id)["other"][4] == "other\n"


def test_independent_stages_build_in_parallel(bstore: Store, tmp_path: Path) -> None:
    # Each stage waits (up to 20 s) for the other's marker in a shared cache mount: the
    # build can only succeed when both RUN steps are running at the same time.
    wait = (
        "touch /sync/{me}; i=0; while [ ! -f /sync/{other} ]; do i=$((i+1)); "
        "[ $i -lt 200 ] || exit 7; sleep 0.1; done; echo {me} > /{me}"
    )
    mount = "--mount=type=cache,target=/sync,id=sync"
    text = f"""FROM {BASE} AS a
RUN {mount} {wait.format(me="a", other="b")}
FROM {BASE} AS b
RUN {mount} {wait.format(me="b", other="a")}
FROM scratch
COPY --from=a /a /a
COPY --from=b /b /b
"""
    ctx = write_context(tmp_path / "ctx", text)
    events: list[BuildEvent] = []
    result = run_build(bstore, ctx, events)
    assert sorted(tree_of(bstore, result.image_id)) == ["a", "b"]
    # Steps are numbered in file order, as podman numbers them, however the stages interleave.
    steps = sorted((e.step, e.stage, e.text.split(":")[0]) for e in events if e.kind == "step")
    assert steps == [
        (1, 0, "STEP 1/7"),
        (2, 0, "STEP 2/7"),
        (3, 1, "STEP 3/7"),
        (4, 1, "STEP 4/7"),
        (5, 2, "STEP 5/7"),
        (6, 2, "STEP 6/7"),
        (7, 2, "STEP 7/7"),
    ]


def test_run_mounts_bind_cache_tmpfs_leave_no_trace(bstore: Store, tmp_path: Path) -> None:
    text = f"""FROM {BASE}
RUN --mount=type=bind,source=data,target=/mnt/data --mount=type=cache,target=/cache \\
    --mount=type=tmpfs,target=/scratch \\
    cat /mnt/data/in.txt > /copied && echo c >> /cache/count && touch /scratch/t && \\
    cat /cache/count | wc -l > /count
"""
    ctx = write_context(tmp_path / "ctx", text, {"data/in.txt": "bound\n"})
    first = run_build(bstore, ctx)
    tree = tree_of(bstore, first.image_id)
    assert tree["copied"][4] == "bound\n"
    assert tree["count"][4].strip() == "1"
    for absent in ("mnt/data/in.txt", "cache/count", "scratch/t"):
        assert absent not in tree
    second = run_build(bstore, ctx, no_cache=True)
    assert tree_of(bstore, second.image_id)["count"][4].strip() == "2"


def test_foreign_platform_run_fails_clearly(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY f /f\nRUN /f\n", {"f": "x"})
    if Path("/proc/sys/fs/binfmt_misc/qemu-s390x").exists():
        pytest.skip("this host can run s390x programs")
    expected = (
        "RUN: cannot run linux/s390x programs on this amd64 machine: no binfmt_misc entry "
        "/proc/sys/fs/binfmt_misc/qemu-s390x is registered (install qemu-user-static and "
        "binfmt-support)"
    )
    with pytest.raises(BuildError) as failed:
        run_build(bstore, ctx, platform="linux/s390x")
    assert str(failed.value) == expected
    only_copy = write_context(tmp_path / "ok", "FROM scratch\nCOPY f /f\n", {"f": "x"})
    cfg = config_of(bstore, run_build(bstore, only_copy, platform="linux/s390x").image_id)
    assert cfg["architecture"] == "s390x"


def test_output_copies_the_image_to_a_reference(bstore: Store, tmp_path: Path) -> None:
    import json

    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\n")
    result = run_build(bstore, ctx, output=f"oci:{tmp_path / 'out'}:v1", format="docker")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    assert result.image_id


def test_v2s2_builds_a_docker_image_and_an_unknown_format_is_refused(
    bstore: Store, tmp_path: Path
) -> None:
    from boxwright.oci import mediatype as mt

    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY f /f\n", {"f": "x"})
    result = run_build(bstore, ctx, format="v2s2")
    assert bstore.images.get(result.image_id).manifest_media_type == mt.DOCKER_MANIFEST
    with pytest.raises(UsageError) as raised:
        run_build(bstore, ctx, format="v2s1")
    assert str(raised.value) == "unknown image format 'v2s1': expected one of oci, docker, v2s2"


def test_arg_scopes_and_predefined_platform_args(bstore: Store, tmp_path: Path) -> None:
    from boxwright.oci.platform import Platform

    text = f"""ARG BASE={BASE}
ARG GLOBAL=g
FROM $BASE
RUN echo "[$GLOBAL]" > /unseen
ARG GLOBAL
ARG TARGETARCH
ARG TARGETPLATFORM
RUN echo "$GLOBAL $TARGETARCH $TARGETPLATFORM $HTTP_PROXY" > /seen
"""
    ctx = write_context(tmp_path / "ctx", text)
    result = run_build(bstore, ctx, build_args={"HTTP_PROXY": "http://proxy:3128"})
    tree = tree_of(bstore, result.image_id)
    host = Platform.host()
    assert tree["unseen"][4] == "[]\n"
    platform = f"{host.os}/{host.architecture}" + (f"/{host.variant}" if host.variant else "")
    assert tree["seen"][4] == f"g {host.architecture} {platform} http://proxy:3128\n"
    created = [h[0] for h in history_of(bstore, result.image_id)]
    assert not any("proxy" in c for c in created)


def test_copy_parents_exclude_and_add_archive(bstore: Store, tmp_path: Path) -> None:
    import io
    import tarfile

    text = f"""FROM {BASE}
COPY --parents a/one.txt b/two.txt /p/
COPY --exclude=*.log logs/ /l/
ADD pack.tar.gz /x/
"""
    files = {"a/one.txt": "1\n", "b/two.txt": "2\n", "logs/keep.txt": "k\n", "logs/x.log": "x\n"}
    ctx = write_context(tmp_path / "ctx", text, files)
    with tarfile.open(ctx / "pack.tar.gz", "w:gz") as tar:
        data = b"packed\n"
        info = tarfile.TarInfo("in/packed.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tree = tree_of(bstore, run_build(bstore, ctx).image_id)
    assert tree["p/a/one.txt"][4] == "1\n" and tree["p/b/two.txt"][4] == "2\n"
    assert tree["l/keep.txt"][4] == "k\n" and "l/x.log" not in tree
    assert tree["x/in/packed.txt"][4] == "packed\n"


def test_healthcheck_exec_form_and_none(bstore: Store, tmp_path: Path) -> None:
    text = f'FROM {BASE}\nHEALTHCHECK --timeout=3s CMD ["/bin/test", "-f", "/ok"]\n'
    ctx = write_context(tmp_path / "ctx", text)
    result = run_build(bstore, ctx, tags=("localhost/hc:1",))
    health = config_of(bstore, result.image_id)["config"]["Healthcheck"]
    assert health == {"Test": ["CMD", "/bin/test", "-f", "/ok"], "Timeout": 3_000_000_000}
    child = write_context(tmp_path / "child", "FROM localhost/hc:1\nHEALTHCHECK NONE\n")
    health = config_of(bstore, run_build(bstore, child).image_id)["config"]["Healthcheck"]
    assert health == {"Test": ["NONE"]}


def test_heredocs_in_run_and_copy(bstore: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE}\nARG WHO=world\n"
        "RUN <<EOF\necho one > /one\necho two > /two\nEOF\n"
        "RUN cat > /three <<EOT\nthree\nEOT\n"
        'COPY <<greeting.txt /greet/\nhello "$WHO" \\o/\ngreeting.txt\n'
    )
    ctx = write_context(tmp_path / "ctx", text)
    tree = tree_of(bstore, run_build(bstore, ctx).image_id)
    assert tree["one"][4] == "one\n" and tree["two"][4] == "two\n"
    assert tree["three"][4] == "three\n"
    assert tree["greet/greeting.txt"][4] == 'hello "world" \\o/\n'


def test_a_step_writes_its_containers_record_when_made_and_when_dropped_only(
    bstore: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = write_context(
        tmp_path / "ctx", f"FROM {BASE}\nENV A=1\nRUN echo a > /a\nRUN echo b > /b\n", {}
    )
    written: list[list[tuple[str, str]]] = []  # (id, last Env) of each containers.json
    real = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if os.fspath(dst) == os.fspath(bstore.layout.containers_file):
            doc = json.loads(Path(src).read_bytes())
            written.append([(c["id"], c["config"]["config"]["Env"][-1]) for c in doc["containers"]])
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    result = run_build(bstore, ctx)
    # the first RUN's container, made with the stage's config; the second's, made in the
    # write that drops the first; then none. The config and history a commit reads are
    # never written into the record.
    assert [[env for _, env in records] for records in written] == [["A=1"], ["A=1"], []]
    assert written[0][0][0] != written[1][0][0]
    assert bstore.containers.list() == []
    history = config_of(bstore, result.image_id)["history"]
    assert [h["created_by"] for h in history[-3:]] == [
        "/bin/sh -c #(nop) ENV A=1",
        "/bin/sh -c echo a > /a",
        "/bin/sh -c echo b > /b",
    ]
    assert sorted(os.listdir(bstore.layout.containers_dir)) == []
