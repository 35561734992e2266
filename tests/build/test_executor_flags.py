"""podman build's flags that change how a build runs: ``env``, ``ignorefile``, ``jobs``, the
source date epoch with ``rewrite_timestamp``, and the ``pull`` policy with registry
credentials (a real ``docker-registry`` with htpasswd auth)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from boxwright.build.context import BuildEvent
from boxwright.config.auth import Credentials
from boxwright.errors import ImageNotFoundError, RegistryError, UsageError
from boxwright.store.pullpush import push
from boxwright.store.store import Store
from boxwright.transport.options import TransportOptions
from boxwright_testing.builds import (
    AUTH_PASSWORD,
    AUTH_USER,
    BASE,
    config_of,
    history_of,
    run_build,
    tree_of,
    write_context,
)

NOP = "/bin/sh -c #(nop) "


def test_env_starts_every_stage_and_a_later_env_wins(bstore: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE} AS one\nRUN echo $A-$B > /seen\n"
        f"FROM {BASE}\nENV B=file\nCOPY --from=one /seen /seen\nRUN echo $A-$B > /second\n"
    )
    ctx = write_context(tmp_path / "ctx", text)
    events: list[BuildEvent] = []
    result = run_build(bstore, ctx, events, env={"A": 'a $x"\\', "B": "cli"})
    tree = tree_of(bstore, result.image_id)
    assert tree["seen"][4] == 'a $x"\\-cli\n'
    assert tree["second"][4] == 'a $x"\\-file\n'
    env = config_of(bstore, result.image_id)["config"]["Env"]
    assert env == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", 'A=a $x"\\', "B=file"]
    entry = NOP + 'ENV "A"="a \\$x\\"\\\\" "B"="cli"'
    assert (entry, True) in history_of(bstore, result.image_id)
    steps = [e.text for e in events if e.kind == "step"]
    assert steps[1] == 'STEP 2/8: ENV "A"="a \\$x\\"\\\\" "B"="cli"'


def test_ignorefile_replaces_the_context_ignore_file(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        "FROM scratch\nCOPY . /c/\n",
        {"a.txt": "a\n", "b.txt": "b\n", ".dockerignore": "a.txt\n"},
    )
    other = tmp_path / "other.ignore"
    other.write_text("b.txt\n.dockerignore\nContainerfile\n")
    tree = tree_of(bstore, run_build(bstore, ctx, ignorefile=other).image_id)
    assert sorted(tree) == ["c", "c/a.txt"]
    with pytest.raises(UsageError, match=r"^--ignorefile .*/missing: No such file or directory$"):
        run_build(bstore, ctx, ignorefile=tmp_path / "missing")


def test_one_job_runs_the_stages_one_after_the_other(bstore: Store, tmp_path: Path) -> None:
    text = "".join(f"FROM {BASE} AS s{i}\nRUN echo {i} > /{i}\n" for i in range(3))
    text += "FROM scratch\n" + "".join(f"COPY --from=s{i} /{i} /\n" for i in range(3))
    ctx = write_context(tmp_path / "ctx", text)
    events: list[BuildEvent] = []
    run_build(bstore, ctx, events, jobs=1)
    assert [e.step for e in events if e.kind == "step"] == list(range(1, 11))
    with pytest.raises(UsageError, match=r"^--jobs -1: give 0 \(no limit\) or a positive number$"):
        run_build(bstore, ctx, jobs=-1)
    assert run_build(bstore, ctx, jobs=0).steps == 10


def test_source_date_epoch_dates_the_image_but_not_the_files(bstore: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE}\nARG SOURCE_DATE_EPOCH\nRUN echo $SOURCE_DATE_EPOCH > /sde\nENV A=1\n"
    ctx = write_context(tmp_path / "ctx", text)
    plain = run_build(bstore, ctx, source_date_epoch=86400)
    config = config_of(bstore, plain.image_id)
    assert config["created"] == "1970-01-02T00:00:00Z"
    created = [h["created"] for h in config["history"]]
    assert created[0] == "1970-01-01T00:00:00Z"  # the base image's own entry
    assert set(created[1:]) == {"1970-01-02T00:00:00Z"}
    assert tree_of(bstore, plain.image_id)["sde"][4] == "86400\n"
    mtime = _layer_mtime(bstore, plain.image_id, "sde")
    assert mtime > 86400
    rewritten = run_build(bstore, ctx, source_date_epoch=86400, rewrite_timestamp=True)
    assert _layer_mtime(bstore, rewritten.image_id, "sde") == 86400
    # the build arg gives the epoch too
    by_arg = run_build(bstore, ctx, build_args={"SOURCE_DATE_EPOCH": "86400"})
    assert config_of(bstore, by_arg.image_id)["created"] == "1970-01-02T00:00:00Z"
    with pytest.raises(UsageError, match=r"^--timestamp and --source-date-epoch"):
        run_build(bstore, ctx, timestamp=0, source_date_epoch=86400)


def _layer_mtime(store: Store, image: str, path: str) -> int:
    import tarfile

    record = store.images.get(image)
    from boxwright.layer.streams import LayerReader

    with store.blobs.open(record.layers[-1]) as stream:
        reader = LayerReader(stream, None, record.diff_ids[-1])
        with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
            for member in archive:
                if member.name == path:
                    return int(member.mtime)
    raise AssertionError(f"{path} is not in the last layer")


# -- the pull policy, against a registry with htpasswd auth ---------------------------------------


def _origin_image(store: Store, tmp_path: Path, origin: str, name: str) -> None:
    ctx = write_context(tmp_path / origin, f"FROM {BASE}\nLABEL origin={origin}\n")
    run_build(store, ctx, tags=(name,))


def test_pull_policies(bstore: Store, tmp_path: Path, auth_registry: Any) -> None:
    name = f"{auth_registry.host}/{auth_registry.repo('base')}:1"
    creds = TransportOptions(
        tls_verify=False,
        credentials=Credentials(AUTH_USER, AUTH_PASSWORD),
        use_blob_info_cache=False,
    )
    _origin_image(bstore, tmp_path, "registry", name)
    push(name, f"docker://{name}", store=bstore, dest_options=creds)
    _origin_image(bstore, tmp_path, "local", name)
    ctx = write_context(tmp_path / "ctx", f"FROM {name}\nENV A=1\n")

    def origin(**options: Any) -> str:
        result = run_build(bstore, ctx, registry_options=creds, **options)
        label: str = config_of(bstore, result.image_id)["config"]["Labels"]["origin"]
        return label

    assert origin() == "local"
    assert origin(pull="never") == "local"
    assert origin(pull="newer") == "registry"
    _origin_image(bstore, tmp_path, "local", name)
    assert origin(pull="always") == "registry"

    missing = f"{auth_registry.host}/{auth_registry.repo('gone')}:1"
    gone = write_context(tmp_path / "gone", f"FROM {missing}\n")
    with pytest.raises(ImageNotFoundError) as caught:
        run_build(bstore, gone, pull="never")
    assert str(caught.value).endswith(
        f"image {missing!r} is not in the store, and --pull=never forbids pulling it"
    )
    # newer falls back to the store's image when the pull fails; always does not
    _origin_image(bstore, tmp_path, "local", missing)
    assert run_build(bstore, gone, pull="newer", registry_options=creds).image_id
    with pytest.raises(ImageNotFoundError):
        run_build(bstore, gone, pull="always", registry_options=creds)
    # without the credentials the registry refuses the pull
    anonymous = TransportOptions(tls_verify=False, use_blob_info_cache=False)
    with pytest.raises(RegistryError) as refused:
        run_build(bstore, ctx, pull="always", registry_options=anonymous)
    assert refused.value.status == 401


@pytest.mark.skipif(os.geteuid() != 0, reason="builds as root here")
def test_env_from_the_cli_environment_is_resolved_by_the_caller(
    bstore: Store, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n")
    result = run_build(bstore, ctx, env={"ONLY": "x"}, unsetenv=("PATH",))
    assert config_of(bstore, result.image_id)["config"]["Env"] == ["ONLY=x"]
