"""Parsing transport references as skopeo does, and clear errors for everything else."""

from __future__ import annotations

import subprocess
import sys

import pytest

from boxwright.errors import InvalidReferenceError
from boxwright.transport.reference import TRANSPORTS, TransportReference, parse_transport_reference


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("oci:/tmp/l", TransportReference("oci", "/tmp/l"), None),
        ("oci:rel/l:v1.0", TransportReference("oci", "rel/l", "v1.0"), None),
        ("oci:l:example.com/app:1", TransportReference("oci", "l", "example.com/app:1"), None),
        ("oci:l:@2", TransportReference("oci", "l", "", 2), None),
        ("oci-archive:a.tar:latest", TransportReference("oci-archive", "a.tar", "latest"), None),
        ("docker-archive:d.tar", TransportReference("docker-archive", "d.tar"), None),
        (
            "docker-archive:d.tar:busybox",
            TransportReference("docker-archive", "d.tar", "docker.io/library/busybox:latest"),
            "docker-archive:d.tar:docker.io/library/busybox:latest",
        ),
        (
            "docker-archive:d.tar:localhost:5000/a/b:v2",
            TransportReference("docker-archive", "d.tar", "localhost:5000/a/b:v2"),
            None,
        ),
        ("docker-archive:d.tar:@0", TransportReference("docker-archive", "d.tar", "", 0), None),
        ("dir:/some/dir", TransportReference("dir", "/some/dir"), None),
        ("dir:odd:name", TransportReference("dir", "odd:name"), None),
    ],
)
def test_parse(text: str, expected: TransportReference, canonical: str | None) -> None:
    ref = parse_transport_reference(text)
    assert ref == expected
    assert str(ref) == (canonical or text)
    assert parse_transport_reference(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("store:", "store: needs an image name or ID"),
        ("store:Upper:1", "store: takes NAME"),
        ("floppy:/dev/fd0", r"unknown transport 'floppy'.*store:"),
        ("/abs/path", "needs a transport prefix, or must be an image name of the local store"),
        ("docker:busybox", r"docker://HOST/REPO"),
        ("docker://busybox:1@sha256:" + "0" * 64, "a tag or a digest, not both"),
        ("Busybox", "needs a transport prefix, or must be .*; boxwright knows oci:, oci-archive:"),
        ("app:1:2", "unknown transport 'app'"),
        ("", "needs a transport prefix"),
        ("oci:", "needs a path"),
        ("dir:", "needs a directory path"),
        ("oci:l:-bad", "invalid image name '-bad'"),
        ("oci:l:@x", "invalid source index '@x'"),
        ("docker-archive:d.tar:@-1", "invalid source index"),
        ("docker-archive:d.tar:UPPER:1", "must be lowercase"),
        ("docker-archive:d.tar:a@sha256:" + "0" * 64, "not a digest reference"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        parse_transport_reference(text)


@pytest.mark.parametrize(
    ("text", "path", "implicit"),
    [
        ("busybox", "busybox", True),
        ("app:1", "app:1", True),
        ("localhost:5000/app", "localhost:5000/app", True),
        ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", True),
        ("app@sha256:" + "a" * 64, "app@sha256:" + "a" * 64, True),
        ("3f2a9c", "3f2a9c", True),
        ("sha256:" + "b" * 64, "sha256:" + "b" * 64, True),
        ("store:app:1", "app:1", False),
        ("store:localhost:5000/team/app", "localhost:5000/team/app", False),
    ],
)
def test_bare_names_and_store_prefix_name_the_local_store(
    text: str, path: str, implicit: bool
) -> None:
    """A reference without a known transport prefix that is an image name or ID is store:."""
    ref = parse_transport_reference(text)
    assert (ref.transport, ref.path, ref.implicit) == ("store", path, implicit)
    assert str(ref) == f"store:{path}"
    assert parse_transport_reference(str(ref)) == ref


def test_docker_reference_only_for_docker_archive() -> None:
    ref = parse_transport_reference("docker-archive:d.tar:app:1")
    assert ref.docker_reference is not None
    assert str(ref.docker_reference) == "docker.io/library/app:1"
    assert parse_transport_reference("oci:l:app").docker_reference is None


def test_source_index_cannot_name_a_destination(tmp_path: object) -> None:
    with pytest.raises(InvalidReferenceError, match="cannot name a destination"):
        parse_transport_reference("docker-archive:x.tar:@1").open_destination()


def test_parsing_imports_no_transport_module() -> None:
    probe = (
        "import sys; from boxwright.transport.reference import parse_transport_reference as p;"
        "p('oci:x:y'); p('dir:x'); p('docker://busybox');"
        "print(sorted(m for m in sys.modules if m.startswith('boxwright.transport.')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = eval(done.stdout)
    assert loaded == ["boxwright.transport.reference"]
    assert set(TRANSPORTS) == {
        "oci",
        "oci-archive",
        "docker-archive",
        "dir",
        "docker",
        "store",
        "containers-storage",
    }
    assert TRANSPORTS["store"] == "boxwright.store.transport"  # the one upward plug-in, by name


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_every_transport_opens_with_one_signature(transport: str) -> None:
    import inspect
    from importlib import import_module

    module = import_module(TRANSPORTS[transport])
    for opener in (module.open_source, module.open_destination):
        parameters = inspect.signature(opener).parameters
        assert list(parameters) == ["ref", "options"]
        assert parameters["options"].default is None
