"""``boxwright build`` on the command line: podman's STEP lines, the image ID, exit codes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, tree_of, write_context
from boxwright_testing.context_servers import GitServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


def _invoke(
    store: Store, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"BOXWRIGHT_ROOT": str(store.layout.root), **(env or {})}
    result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_build_prints_steps_and_the_image_id(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\nRUN echo hi > /hi\n")
    code, out, _ = _invoke(bstore, "build", "-t", "localhost/cli:1", "--timestamp", "0", str(ctx))
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == [
        f"STEP 1/3: FROM {BASE}",
        "STEP 2/3: ENV A=1",
        "STEP 3/3: RUN echo hi > /hi",
    ]
    image = bstore.images.get("localhost/cli:1")
    assert lines[-1] == image.id
    assert lines[-2] == "Successfully tagged localhost/cli:1"
    assert f"--> {image.id[:12]}" in lines

    code, out, _ = _invoke(
        bstore, "build", "-q", "-t", "localhost/cli:1", "--timestamp", "0", str(ctx)
    )
    assert code == 0 and out.splitlines() == [image.id]


def test_run_output_is_printed_as_podman_prints_it(
    bstore: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """RUN lines on stdout between the STEP lines (its stderr on stderr); -q keeps the stderr
    lines only. Nothing reaches the process's own descriptors around click."""
    script = "echo from-the-run; echo to-stderr >&2; printf 'no newline'"
    loud = write_context(tmp_path / "loud", f"FROM {BASE}\nRUN {script}\nENV A=1\n")
    capfd.readouterr()
    code, out, err = _invoke(bstore, "build", "--no-cache", str(loud))
    assert code == 0
    lines = out.splitlines()
    run = lines.index(f"STEP 2/3: RUN {script}")
    assert lines[run + 1 : run + 3] == ["from-the-run", "no newline"]
    assert lines[run + 3].startswith("--> ") and lines[run + 4] == "STEP 3/3: ENV A=1"
    assert err.splitlines() == ["to-stderr"]

    code, out, err = _invoke(bstore, "build", "-q", "--no-cache", str(loud))
    assert code == 0 and len(out.split()) == 1 and len(out.strip()) == 64
    assert err.splitlines() == ["to-stderr"]
    leaked = capfd.readouterr()
    assert "from-the-run" not in leaked.out and "to-stderr" not in leaked.err


def test_build_from_stdin_with_build_args_and_target(bstore: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE} AS a\nARG X\nRUN echo $X > /x\nFROM scratch\nCOPY --from=a /x /x\n"
    ctx = tmp_path / "empty"
    ctx.mkdir()
    code, out, _ = _invoke(
        bstore,
        "build",
        "-q",
        "-f",
        "-",
        "--build-arg",
        "X=42",
        "--target",
        "a",
        str(ctx),
        input=text,
    )
    assert code == 0
    image = out.strip()
    assert len(image) == 64 and bstore.images.exists(image)


def test_a_failing_run_is_one_error_line_and_exits_with_its_status(
    bstore: Store, tmp_path: Path
) -> None:
    """podman build and buildah bud exit with the failed RUN's status; other failures exit 1."""
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN exit 42\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 42
    assert err.strip().splitlines() == [
        f'Error: {ctx}/Containerfile:2: building at STEP "RUN exit 42": exit status 42'
    ]
    ctx = write_context(tmp_path / "false", f"FROM {BASE}\nRUN false\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 1
    assert err.strip().splitlines()[-1].endswith('STEP "RUN false": exit status 1')
    ctx = write_context(tmp_path / "copy", f"FROM {BASE}\nCOPY missing /m\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 1 and "missing" in err


def test_bad_usage_exits_2(bstore: Store, tmp_path: Path) -> None:
    code, _, _ = _invoke(bstore, "build", "--format", "v3", str(tmp_path))
    assert code == 2


def test_run_step_flags_on_the_command_line(bstore: Store, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("vol\n")
    run = (
        "RUN --mount=type=secret,id=tok,env=T cat /v/in > /seen"
        ' && busybox head -n1 /etc/hosts >> /seen && test "$T" = cli-value && touch /secret-ok'
        " && busybox grep CapEff /proc/self/status >> /seen"
    )
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n{run}\n")
    code, out, err = _invoke(
        bstore,
        "build",
        "-q",
        "-t",
        "localhost/flags:1",
        "-v",
        f"{host}:/v:ro",
        "--network",
        "none",
        "--add-host",
        "db:10.9.8.7",
        "--cap-drop",
        "ALL",
        "--secret",
        "id=tok,env=BW_CLI_SECRET",
        str(ctx),
        env={"BW_CLI_SECRET": "cli-value"},
    )
    assert (code, err) == (0, "")
    image = bstore.images.get("localhost/flags:1")
    assert out.splitlines() == [image.id]
    tree = tree_of(bstore, image.id)
    assert tree["seen"][4] == f"vol\n10.9.8.7\tdb\nCapEff:\t{0:016x}\n"
    assert tree["secret-ok"][0] == "f"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--network", "private"),
            "Error: --network private: RUN steps run with the host's network (host) or none "
            "(none); a network of their own needs slirp4netns, pasta or CNI, which boxwright "
            "does not drive",
        ),
        (
            ("--no-hosts", "--add-host", "a:1.2.3.4"),
            "Error: --no-hosts and --add-host cannot be used together",
        ),
        (("--cap-add", "NOPE"), "Error: --cap-add/--cap-drop: unknown capability 'NOPE'"),
        (("-v", "/:/x:U"), "Error: -v '/:/x:U': unsupported option 'U' (accepted: rw, ro, O, "
                           "z, Z, private, rprivate)"),
        (("--secret", "id=s,type=x"), "Error: --secret 'id=s,type=x': type must be file or env"),
    ],
)  # fmt: skip
def test_bad_run_step_flags_are_usage_errors(
    bstore: Store, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN true\n")
    code, _, err = _invoke(bstore, "build", *args, str(ctx))
    assert code == 2
    assert err.splitlines()[-1] == message


# -- podman build's flags ------------------------------------------------------------------------


def test_pull_takes_an_optional_value_after_equals_only(bstore: Store, tmp_path: Path) -> None:
    """The bare ``--pull`` is ``always`` and never swallows the context argument."""
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\n")
    code, _, err = _invoke(bstore, "build", "--pull", str(ctx))
    # always: the registry (docker.io) is asked for localhost/bb:1, which nothing serves
    assert code == 1 and err.startswith("Error: ")
    for flags in (["--pull=missing"], ["--pull=never"], ["--pull-never"], ["--pull=false"]):
        code, _, err = _invoke(bstore, "build", "-q", *flags, str(ctx))
        assert (code, err) == (0, ""), flags
    code, _, err = _invoke(bstore, "build", "--pull=sometimes", str(ctx))
    assert code == 2
    assert "'sometimes': expected always, missing, never or newer" in err


def test_labels_annotations_env_unsetenv_iidfile(
    bstore: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from boxwright.oci.manifest import ImageManifest

    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo $FROM_ENV $GIVEN > /seen\n")
    iid = tmp_path / "iid"
    monkeypatch.setenv("FROM_ENV", "outer")
    monkeypatch.delenv("UNSET_HERE", raising=False)
    code, out, _ = _invoke(
        bstore,
        "build",
        "-q",
        "--label",
        "a=1",
        "--label",
        "empty",
        "--annotation",
        "org.example.k=v",
        "--env",
        "FROM_ENV",
        "--env",
        "GIVEN=x=y",
        "--env",
        "UNSET_HERE",
        "--unsetenv",
        "PATH",
        "--iidfile",
        str(iid),
        str(ctx),
    )
    assert code == 0
    image = out.strip()
    assert iid.read_text() == f"sha256:{image}"
    record = bstore.images.get(image)
    config = json.loads(bstore.images.config(record).raw)["config"]
    assert config["Labels"] == {"a": "1", "empty": ""}
    assert config["Env"] == ["FROM_ENV=outer", "GIVEN=x=y"]
    annotations = ImageManifest.parse(bstore.images.manifest(record)).annotations
    assert annotations["org.example.k"] == "v"


def test_output_directory_tar_and_stdout(bstore: Store, tmp_path: Path) -> None:
    import io
    import tarfile

    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY a.txt /\n", {"a.txt": "a\n"})
    out_dir, out_tar = tmp_path / "dir", tmp_path / "files.tar"
    code, out, _ = _invoke(
        bstore, "build", "-q", "-o", str(out_dir), "--output", f"type=tar,dest={out_tar}", str(ctx)
    )
    assert code == 0 and len(out.split()) == 1
    assert (out_dir / "a.txt").read_text() == "a\n"
    with tarfile.open(out_tar) as archive:
        assert archive.getnames() == ["a.txt"]

    runner = CliRunner()
    env = {"BOXWRIGHT_ROOT": str(bstore.layout.root)}
    result = runner.invoke(main, ["build", "-o", "-", str(ctx)], env=env, catch_exceptions=False)
    assert result.exit_code == 0
    with tarfile.open(fileobj=io.BytesIO(result.stdout_bytes)) as archive:
        assert archive.getnames() == ["a.txt"]
    assert result.stderr.splitlines()[0] == "STEP 1/2: FROM scratch"

    layout = tmp_path / "layout"
    code, _, _ = _invoke(bstore, "build", "-q", "--output", f"oci:{layout}:x", str(ctx))
    assert code == 0 and (layout / "index.json").is_file()


def test_global_quiet_silences_the_step_lines(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo loud\n")
    code, out, err = _invoke(bstore, "-q", "build", "--no-cache", str(ctx))
    assert code == 0
    assert len(out.splitlines()) == 1 and len(out.strip()) == 64 and err == ""


def test_jobs_ignorefile_source_date_epoch_flags(bstore: Store, tmp_path: Path) -> None:
    import json

    ctx = write_context(
        tmp_path / "ctx",
        f"FROM {BASE}\nARG SOURCE_DATE_EPOCH\nCOPY . /c/\nRUN echo $SOURCE_DATE_EPOCH > /sde\n",
        {"keep.txt": "k\n", "drop.txt": "d\n"},
    )
    ignore = tmp_path / "ignore"
    ignore.write_text("drop.txt\nContainerfile\n")
    code, out, err = _invoke(
        bstore,
        "build",
        "-q",
        "--jobs",
        "1",
        "--ignorefile",
        str(ignore),
        "--source-date-epoch",
        "86400",
        "--rewrite-timestamp",
        "--omit-history",
        "--identity-label=false",
        str(ctx),
    )
    assert (code, err) == (0, "")
    config = json.loads(bstore.images.config(bstore.images.get(out.strip())).raw)
    assert config["created"] == "1970-01-02T00:00:00Z" and "history" not in config
    from boxwright_testing.builds import tree_of

    tree = tree_of(bstore, out.strip())
    assert tree["sde"][4] == "86400\n"
    assert sorted(p for p in tree if p.startswith("c/")) == ["c/keep.txt"]
    code, _, err = _invoke(
        bstore, "build", "--timestamp", "0", "--source-date-epoch", "1", str(ctx)
    )
    assert code == 1
    assert err.startswith("Error: --timestamp and --source-date-epoch")


def test_creds_and_authfile_reach_the_registry(
    bstore: Store, tmp_path: Path, auth_registry: Any
) -> None:
    import base64
    import json

    from boxwright_testing.builds import AUTH_PASSWORD, AUTH_USER

    name = f"{auth_registry.host}/{auth_registry.repo('cli')}:1"
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nLABEL pushed=yes\n")
    creds = f"{AUTH_USER}:{AUTH_PASSWORD}"
    code, _, err = _invoke(
        bstore,
        "build",
        "-q",
        "-t",
        name,
        "--push",
        "--tls-verify=false",
        "--creds",
        creds,
        str(ctx),
    )
    assert (code, err) == (0, "")
    auth = tmp_path / "auth.json"
    token = base64.b64encode(creds.encode()).decode()
    auth.write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    child = write_context(tmp_path / "child", f"FROM {name}\nENV B=1\n")
    bstore.images.remove(name)
    code, out, err = _invoke(
        bstore, "build", "-q", "--tls-verify=false", "--authfile", str(auth), str(child)
    )
    assert (code, err) == (0, "")
    config = json.loads(bstore.images.config(bstore.images.get(out.strip())).raw)["config"]
    assert config["Labels"] == {"pushed": "yes"}
    code, _, err = _invoke(bstore, "build", "--pull=always", "--tls-verify=false", str(child))
    host, repo = auth_registry.host, name.split("/", 1)[1]
    assert (code, err) == (
        1,
        f"Error: {host}: authentication required for manifest {repo}; log in with "
        f"'boxwright login {host}' or give --creds (UNAUTHORIZED: authentication required)\n",
    )


def _tar_of(files: dict[str, str]) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _invoke_bytes(store: Store, *args: str, input: bytes) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"BOXWRIGHT_ROOT": str(store.layout.root)}
    result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_context_dash_is_a_tar_or_a_containerfile_on_stdin(bstore: Store) -> None:
    tarball = _tar_of({"Containerfile": "FROM scratch\nCOPY in.txt /\n", "in.txt": "in\n"})
    code, out, _ = _invoke_bytes(bstore, "build", "-q", "-t", "localhost/tar:1", "-", input=tarball)
    assert code == 0
    image = bstore.images.get("localhost/tar:1")
    assert out.splitlines() == [image.id]
    assert tree_of(bstore, image.id) == {"in.txt": ("f", 0o644, 0, 0, "in\n")}

    text = b"FROM scratch\nLABEL via=stdin\n"
    code, out, _ = _invoke_bytes(bstore, "build", "-q", "-t", "localhost/cf:1", "-", input=text)
    assert code == 0
    config = bstore.images.config(bstore.images.get("localhost/cf:1"))
    assert config.config.labels == {"via": "stdin"}


def test_context_dash_with_f_dash_and_bad_build_contexts_are_usage_errors(bstore: Store) -> None:
    code, _, err = _invoke(bstore, "build", "-f", "-", "-", input="FROM scratch\n")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "Error: the context and the Containerfile cannot both be standard input"
    )
    code, _, err = _invoke(bstore, "build", "--build-context", "nothing", "-", input="")
    assert code == 2
    assert "--build-context 'nothing': expected NAME=VALUE" in err


def test_a_git_context_that_fails_is_one_line(bstore: Store, git_server: GitServer) -> None:
    url = git_server.repo({"Containerfile": "FROM scratch\n"})
    code, out, err = _invoke(bstore, "build", f"{url}#no-such-branch")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"Error: git fetch of {url} failed: fatal: couldn't find remote ref no-such-branch"
    ]
    code, out, _ = _invoke(bstore, "build", "-q", "--build-context", "g=" + url, url)
    assert code == 0 and len(out.strip()) == 64
