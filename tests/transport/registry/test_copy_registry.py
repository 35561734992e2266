"""``copy`` to and from ``docker://`` against real registries, checked with skopeo.

Push with boxwright, pull with skopeo (and the reverse): the digests are equal. A second push
of the same blobs to another repository of the registry mounts them (no upload), and a copy
of an image the registry already holds does one manifest request and nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from registry_images import TestImage, make_image, make_index
from registry_peers import SKOPEO, skopeo_copy, skopeo_digest

from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import AuthenticationError, ImageNotFoundError
from boxwright.transport.docker import DockerDestination
from boxwright.transport.options import TransportOptions
from boxwright.transport.reference import parse_transport_reference
from boxwright.transport.registry.client import RegistryClient
from boxwright_testing.registry_servers import RegistryServer

needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def options_for(server: RegistryServer) -> TransportOptions:
    """How boxwright reaches ``server``: its CA (TLS) or plain HTTP, and its credentials."""
    from boxwright.config.auth import parse_creds

    creds = parse_creds(server.creds) if server.username else None
    if server.tls:
        return TransportOptions(credentials=creds, cert_dir=server.cert_dir)
    return TransportOptions(credentials=creds, tls_verify=False)


@pytest.fixture
def image(tmp_path: Path) -> TestImage:
    return make_image(tmp_path / "image", layers=3, layer_size=20000, seed="push")


@needs_skopeo
def test_push_with_boxwright_pull_with_skopeo(
    registry_any: RegistryServer, image: TestImage, tmp_path: Path, isolated_auth: Path
) -> None:
    repo = registry_any.repo("push")
    opts = CopyOptions(dest_options=options_for(registry_any))
    result = copy_image(image.ref, registry_any.ref(repo, "v1"), opts)
    assert str(result.digest) == image.manifest_digest
    assert skopeo_digest(registry_any, repo, "v1") == image.manifest_digest
    pulled = tmp_path / "pulled"
    skopeo_copy(registry_any.ref(repo, "v1"), f"oci:{pulled}:v1", src_registry=registry_any)
    index = json.loads((pulled / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest


@needs_skopeo
def test_push_with_skopeo_pull_with_boxwright(
    registry_any: RegistryServer, image: TestImage, tmp_path: Path, isolated_auth: Path
) -> None:
    repo = registry_any.repo("pull")
    skopeo_copy(image.ref, registry_any.ref(repo, "v2"), dest_registry=registry_any)
    opts = CopyOptions(src_options=options_for(registry_any))
    result = copy_image(registry_any.ref(repo, "v2"), f"oci:{tmp_path / 'out'}:v2", opts)
    assert str(result.digest) == image.manifest_digest
    assert sorted(str(d) for d in result.blobs_written) == sorted(image.blob_digests)
    by_digest = f"docker://{registry_any.host}/{repo}@{image.manifest_digest}"
    again = copy_image(by_digest, f"dir:{tmp_path / 'dir'}", opts)
    assert str(again.digest) == image.manifest_digest


def test_index_all_platforms_round_trip(
    registry_plain: RegistryServer, tmp_path: Path, isolated_auth: Path
) -> None:
    index = make_index(tmp_path / "index", seed="multi")
    repo = registry_plain.repo("multi")
    opts = CopyOptions(all_platforms=True, dest_options=options_for(registry_plain))
    pushed = copy_image(index.ref, registry_plain.ref(repo), opts)
    assert str(pushed.digest) == index.manifest_digest
    assert len(pushed.images) == 2
    back = CopyOptions(all_platforms=True, src_options=options_for(registry_plain))
    pulled = copy_image(registry_plain.ref(repo), f"oci:{tmp_path / 'back'}:x", back)
    assert str(pulled.digest) == index.manifest_digest
    assert {str(i.descriptor.digest) for i in pulled.images} == set(index.children)


def test_second_push_to_another_repo_mounts_every_blob(
    registry_plain: RegistryServer, image: TestImage, isolated_auth: Path
) -> None:
    opts = options_for(registry_plain)
    first = parse_transport_reference(registry_plain.ref(registry_plain.repo("one")))
    dest = first.open_destination(opts)
    assert isinstance(dest, DockerDestination)
    copy_image(image.ref, dest, CopyOptions())
    dest.close()
    assert sorted(map(str, dest.uploaded)) == sorted(image.blob_digests)
    assert dest.mounted == []

    second = parse_transport_reference(registry_plain.ref(registry_plain.repo("two")))
    dest2 = second.open_destination(opts)
    assert isinstance(dest2, DockerDestination)
    result = copy_image(image.ref, dest2, CopyOptions())
    dest2.close()
    assert dest2.uploaded == []
    assert sorted(map(str, dest2.mounted)) == sorted(image.blob_digests)
    assert result.blobs_written == ()


_NOT_FOR_A_MOUNT_PUSH = (
    "boxwright.copy.admission",
    "boxwright.oci.config",
    "boxwright.transport.registry.signatures",
    "boxwright.trust.policy",
    "boxwright.trust.signature",
    "boxwright.trust.signing",
    "subprocess",
    "urllib.request",
)
"""What a push of blobs the registry holds elsewhere does not load under a policy that
accepts every image (docs/performance.md, "What the mount push spends")."""


@pytest.mark.parametrize("accepting", [True, False], ids=["accept-anything", "rejecting"])
def test_a_mount_push_loads_the_policy_model_only_when_the_policy_can_reject(
    registry_plain: RegistryServer,
    image: TestImage,
    isolated_auth: Path,
    tmp_path: Path,
    accepting: bool,
) -> None:
    """Every blob of the image is in another repository, and the blob-info cache knows it:
    under an accept-anything policy.json the push mounts them all and loads neither the policy
    model, the signature formats, the signers nor the config model (the config's text rules
    out that a mounted layer is a mislabelled plain tar); under one that rejects ``oci:`` images
    nothing is pushed and the rejection names the policy, its scope and requirement."""
    copy_image(
        image.ref,
        registry_plain.ref(registry_plain.repo("known")),
        CopyOptions(dest_options=options_for(registry_plain)),
    )
    policy = tmp_path / "policy.json"
    scopes = {} if accepting else {"oci": {"": [{"type": "reject"}]}}
    policy.write_text(
        json.dumps({"default": [{"type": "insecureAcceptAnything"}], "transports": scopes})
    )
    repo = registry_plain.repo("mounted")
    probe = f"""
import sys
from pathlib import Path
from boxwright.config import trust
from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import PolicyRejectedError
from boxwright.transport.options import TransportOptions
trust.configure(policy=Path({str(policy)!r}))
options = CopyOptions(dest_options=TransportOptions(tls_verify=False))
try:
    result = copy_image({image.ref!r}, {registry_plain.ref(repo, "v1")!r}, options)
    print(len(result.blobs_written), len(result.blobs_skipped))
except PolicyRejectedError as error:
    print(error)
print(sorted(m for m in {_NOT_FOR_A_MOUNT_PUSH!r} if m in sys.modules) or "-")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    with RegistryClient(registry_plain.host, scheme="http") as client:
        pushed = client.head_manifest(repo, "v1")
    if accepting:
        assert done.stdout.splitlines() == ["0 4", "-"]
        assert pushed is not None and str(pushed.digest) == image.manifest_digest
    else:
        assert done.stdout.splitlines() == [
            f'Source image {image.ref} rejected by {policy} (oci ""): requirement reject: '
            f"Running image {image.ref} is rejected by policy.",
            "['boxwright.copy.admission', 'boxwright.trust.policy', 'boxwright.trust.signature']",
        ]
        assert pushed is None


def test_registry_to_registry_mounts_from_the_source_repo(
    registry_plain: RegistryServer, image: TestImage, isolated_auth: Path
) -> None:
    # No persistent cache: the mount candidates come from the open source alone.
    opts = TransportOptions(tls_verify=False, use_blob_info_cache=False)
    src_repo, dst_repo = registry_plain.repo("src"), registry_plain.repo("dst")
    copy_image(image.ref, registry_plain.ref(src_repo), CopyOptions(dest_options=opts))
    dest = parse_transport_reference(registry_plain.ref(dst_repo)).open_destination(opts)
    assert isinstance(dest, DockerDestination)
    result = copy_image(registry_plain.ref(src_repo), dest, CopyOptions(src_options=opts))
    dest.close()
    assert str(result.digest) == image.manifest_digest
    assert dest.uploaded == []
    assert sorted(map(str, dest.mounted)) == sorted(image.blob_digests)


class CountingClient:
    """Wraps a RegistryClient and records every distribution-API call made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name == "close":
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return attr(*args, **kwargs)

        return call


def test_noop_copy_is_one_manifest_request(
    registry_plain: RegistryServer, image: TestImage, isolated_auth: Path
) -> None:
    opts = TransportOptions(tls_verify=False)
    ref = registry_plain.ref(registry_plain.repo("noop"), "1")
    first = copy_image(image.ref, ref, CopyOptions(dest_options=opts))
    assert not first.unchanged
    dest = parse_transport_reference(ref).open_destination(opts)
    assert isinstance(dest, DockerDestination)
    counting = CountingClient(dest.client)
    dest._client = counting  # type: ignore[assignment]
    again = copy_image(image.ref, dest, CopyOptions())
    dest.close()
    assert again.unchanged
    assert again.digest == first.digest
    assert again.blobs_written == ()
    assert len(again.blobs_skipped) == len(image.blob_digests)
    assert counting.calls == [("head_manifest", (dest.endpoint.repo, "1"))]


def test_copy_of_a_changed_image_is_not_a_noop(
    registry_plain: RegistryServer, tmp_path: Path, isolated_auth: Path
) -> None:
    opts = CopyOptions(dest_options=TransportOptions(tls_verify=False))
    ref = registry_plain.ref(registry_plain.repo("changed"), "1")
    old = make_image(tmp_path / "old", seed="old")
    new = make_image(tmp_path / "new", seed="new")
    copy_image(old.ref, ref, opts)
    result = copy_image(new.ref, ref, opts)
    assert not result.unchanged
    assert str(result.digest) == new.manifest_digest
    assert sorted(map(str, result.blobs_written)) == sorted(new.blob_digests)


def test_chunked_upload_round_trips(
    registry_plain: RegistryServer, image: TestImage, tmp_path: Path, isolated_auth: Path
) -> None:
    opts = TransportOptions(tls_verify=False, chunk_size=7000)
    ref = registry_plain.ref(registry_plain.repo("chunks"))
    pushed = copy_image(image.ref, ref, CopyOptions(dest_options=opts))
    pulled = copy_image(
        ref, f"oci:{tmp_path / 'c'}:x", CopyOptions(src_options=TransportOptions(tls_verify=False))
    )
    assert pulled.digest == pushed.digest


def test_wrong_credentials_fail_clearly(
    registry_tls_basic: RegistryServer, image: TestImage, isolated_auth: Path
) -> None:
    from boxwright.config.auth import Credentials

    opts = TransportOptions(
        credentials=Credentials(registry_tls_basic.username, "wrong-password"),
        cert_dir=registry_tls_basic.cert_dir,
    )
    ref = registry_tls_basic.ref(registry_tls_basic.repo("denied"))
    with pytest.raises(AuthenticationError) as caught:
        copy_image(image.ref, ref, CopyOptions(dest_options=opts))
    assert "wrong-password" not in str(caught.value)


def test_missing_image_is_a_clear_error(
    registry_plain: RegistryServer, isolated_auth: Path, tmp_path: Path
) -> None:
    ref = registry_plain.ref(registry_plain.repo("absent"), "nope")
    opts = CopyOptions(src_options=TransportOptions(tls_verify=False))
    with pytest.raises(ImageNotFoundError, match=r"absent-\w+:nope not found"):
        copy_image(ref, f"oci:{tmp_path / 'x'}:y", opts)
