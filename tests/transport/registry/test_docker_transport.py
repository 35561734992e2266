"""The docker:// transport: references, registries.conf, options reaching the client, the
blob-info cache, and the list-tags / delete / inspect commands against real registries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from registry_images import TestImage, make_image
from registry_peers import SKOPEO, skopeo_copy, skopeo_tags

from boxwright.cli.main import main
from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import ConfigError, ImageNotFoundError, TLSError
from boxwright.oci.digest import Digest
from boxwright.transport.blobinfocache import BlobInfoCache
from boxwright.transport.docker import DockerSource, resolve_endpoints
from boxwright.transport.options import TransportOptions
from boxwright.transport.reference import parse_transport_reference
from boxwright_testing.registry_servers import RegistryServer

PLAIN = TransportOptions(tls_verify=False)


@pytest.fixture
def image(tmp_path: Path) -> TestImage:
    return make_image(tmp_path / "image", layers=2, layer_size=5000, seed="transport")


def push(server: RegistryServer, image: TestImage, repo: str, tag: str) -> str:
    ref = server.ref(repo, tag)
    copy_image(image.ref, ref, CopyOptions(dest_options=PLAIN))
    return ref


# -- references and registries.conf ---------------------------------------------------------


def test_docker_references_normalize_like_docker() -> None:
    ref = parse_transport_reference("docker://busybox")
    assert ref.path == "docker.io/library/busybox:latest"
    assert str(ref) == "docker://docker.io/library/busybox:latest"
    assert ref.docker_reference is not None
    assert ref.docker_reference.name == "docker.io/library/busybox"
    digest = "sha256:" + "a" * 64
    by_digest = parse_transport_reference(f"docker://localhost:5000/app@{digest}")
    assert by_digest.path == f"localhost:5000/app@{digest}"


def test_registries_conf_rewrites_blocks_and_orders_mirrors(
    tmp_path: Path, isolated_auth: Path
) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(
        '[[registry]]\nprefix = "example.com/app"\nlocation = "primary.test/team/app"\n'
        '[[registry.mirror]]\nlocation = "mirror.test/app"\ninsecure = true\n'
        '[[registry]]\nprefix = "blocked.test"\nblocked = true\n'
    )
    opts = TransportOptions(registries_conf=conf)
    ref = parse_transport_reference("docker://example.com/app:1").docker_reference
    assert ref is not None
    pulls = resolve_endpoints(ref, opts, pull=True)
    assert [(e.host, e.repo, e.insecure) for e in pulls] == [
        ("mirror.test", "app", True),
        ("primary.test", "team/app", False),
    ]
    pushes = resolve_endpoints(ref, opts, pull=False)
    assert [(e.host, e.repo) for e in pushes] == [("primary.test", "team/app")]
    blocked = parse_transport_reference("docker://blocked.test/x:1").docker_reference
    assert blocked is not None
    with pytest.raises(ConfigError, match="blocked"):
        resolve_endpoints(blocked, opts, pull=True)


def test_pull_falls_back_from_a_dead_mirror_to_the_primary(
    registry_plain: RegistryServer, image: TestImage, tmp_path: Path, isolated_auth: Path
) -> None:
    repo = registry_plain.repo("mirrored")
    push(registry_plain, image, repo, "1")
    conf = tmp_path / "registries.conf"
    conf.write_text(
        f'[[registry]]\nprefix = "{registry_plain.host}/{repo}"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:9/nothing"\ninsecure = true\n'
    )
    opts = TransportOptions(registries_conf=conf, retries=0)
    source = parse_transport_reference(registry_plain.ref(repo, "1")).open_source(opts)
    assert isinstance(source, DockerSource)
    try:
        raw, _ = source.get_manifest()
        assert str(Digest.from_bytes(raw)) == image.manifest_digest
        assert source.endpoint.host == registry_plain.host
    finally:
        source.close()


# -- options reach the client ---------------------------------------------------------------


def test_tls_needs_the_ca_and_cert_dir_supplies_it(
    registry_tls_basic: RegistryServer, image: TestImage, isolated_auth: Path, tmp_path: Path
) -> None:
    from boxwright.config.auth import parse_creds

    creds = parse_creds(registry_tls_basic.creds)
    ref = registry_tls_basic.ref(registry_tls_basic.repo("tls"))
    with pytest.raises(TLSError):
        copy_image(image.ref, ref, CopyOptions(dest_options=TransportOptions(credentials=creds)))
    good = TransportOptions(credentials=creds, cert_dir=registry_tls_basic.cert_dir)
    assert str(copy_image(image.ref, ref, CopyOptions(dest_options=good)).digest) == (
        image.manifest_digest
    )
    # --tls-verify=false skips verification, credentials still needed and used.
    loose = TransportOptions(credentials=creds, tls_verify=False)
    out = copy_image(ref, f"oci:{tmp_path / 'o'}:x", CopyOptions(src_options=loose))
    assert str(out.digest) == image.manifest_digest


def test_credentials_come_from_the_auth_file(
    registry_tls_basic: RegistryServer, image: TestImage, isolated_auth: Path
) -> None:
    from boxwright.config.auth import AuthStore, parse_creds

    authfile = isolated_auth.parent / "custom-auth.json"
    AuthStore(authfile).store(registry_tls_basic.host, parse_creds(registry_tls_basic.creds))
    opts = TransportOptions(authfile=authfile, cert_dir=registry_tls_basic.cert_dir)
    ref = registry_tls_basic.ref(registry_tls_basic.repo("authfile"))
    result = copy_image(image.ref, ref, CopyOptions(dest_options=opts))
    assert str(result.digest) == image.manifest_digest


# -- CLI: copy, list-tags, inspect, delete --------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(main, list(args))
    return done.exit_code, done.stdout, done.stderr


def test_cli_copy_list_tags_inspect_delete(
    registry_plain: RegistryServer, image: TestImage, isolated_auth: Path
) -> None:
    repo = registry_plain.repo("cli")
    for tag in ("1.0", "2.0"):
        code, out, err = run(
            "copy", "-q", "--dest-tls-verify=false", image.ref, registry_plain.ref(repo, tag)
        )
        assert (code, out.strip()) == (0, image.manifest_digest), err
    code, out, err = run(
        "list-tags", "--tls-verify=false", f"docker://{registry_plain.host}/{repo}"
    )
    assert code == 0, err
    listed = json.loads(out)
    assert listed["Repository"] == f"{registry_plain.host}/{repo}"
    assert sorted(listed["Tags"]) == ["1.0", "2.0"]
    if SKOPEO is not None:
        assert sorted(skopeo_tags(registry_plain, repo)) == sorted(listed["Tags"])

    code, out, err = run("inspect", "--tls-verify=false", registry_plain.ref(repo, "1.0"))
    assert code == 0, err
    info = json.loads(out)
    assert info["Name"] == f"{registry_plain.host}/{repo}"
    assert info["Digest"] == image.manifest_digest
    assert info["RepoTags"] == listed["Tags"]
    assert info["Layers"] == list(image.layer_digests)

    code, out, err = run("delete", "--tls-verify=false", registry_plain.ref(repo, "2.0"))
    assert (code, out.strip()) == (0, image.manifest_digest), err
    code, out, err = run("inspect", "--tls-verify=false", registry_plain.ref(repo, "1.0"))
    assert code == 1
    assert "not found" in err and err.count("\n") == 1


def test_cli_list_tags_refuses_a_tag_and_non_registry(isolated_auth: Path) -> None:
    code, _, err = run("list-tags", "docker://localhost:5000/app:1")
    assert code == 1
    assert "without a tag or digest" in err
    code, _, err = run("list-tags", "oci:/tmp/x")
    assert code == 2
    assert "not a registry reference" in err


def test_delete_of_a_missing_tag_is_image_not_found(
    registry_plain: RegistryServer, isolated_auth: Path
) -> None:
    from boxwright.transport.docker import delete_image

    with pytest.raises(ImageNotFoundError):
        delete_image(registry_plain.ref(registry_plain.repo("gone"), "x"), PLAIN)


def test_pull_from_skopeo_push_by_cli(
    registry_plain: RegistryServer, image: TestImage, isolated_auth: Path, tmp_path: Path
) -> None:
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    repo = registry_plain.repo("sk")
    skopeo_copy(image.ref, registry_plain.ref(repo, "t"), dest_registry=registry_plain)
    code, out, err = run(
        "copy", "-q", "--src-tls-verify=false", registry_plain.ref(repo, "t"), f"dir:{tmp_path}/d"
    )
    assert (code, out.strip()) == (0, image.manifest_digest), err


# -- the blob-info cache --------------------------------------------------------------------


def test_blob_info_cache_persists_verified_locations(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "bic.json"
    digest = Digest.from_bytes(b"layer")
    plain = Digest.from_bytes(b"plain")
    cache = BlobInfoCache(path)
    cache.record_location("reg:5000", "a", digest)
    cache.record_location("reg:5000", "b", digest)
    cache.record_digest_pair(digest, plain)
    cache.add_hint("reg:5000", "hinted", [digest])
    cache.flush()
    again = BlobInfoCache(path)
    assert again.candidate_repos("reg:5000", digest) == ["b", "a"]
    assert again.candidate_repos("reg:5000", digest, exclude="b") == ["a"]
    assert again.candidate_repos("other:1", digest) == []
    assert again.uncompressed_digest(digest) == plain
    assert cache.candidate_repos("reg:5000", digest) == ["b", "a", "hinted"]
    cache.forget_location("reg:5000", "b", digest)
    assert cache.candidate_repos("reg:5000", digest) == ["a", "hinted"]


def test_blob_info_cache_errors_never_fail(tmp_path: Path) -> None:
    broken = tmp_path / "bic.json"
    broken.write_text("{not json")
    cache = BlobInfoCache(broken)
    digest = Digest.from_bytes(b"x")
    assert cache.candidate_repos("h", digest) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = BlobInfoCache(blocker / "sub" / "bic.json")
    unwritable.record_location("h", "r", digest)
    unwritable.flush()  # cannot create a directory under a file: logged, not raised
    assert unwritable.candidate_repos("h", digest) == ["r"]
