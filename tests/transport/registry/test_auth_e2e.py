"""The issue's proof, end to end on the command line: push with boxwright and pull with skopeo,
push with skopeo and pull with boxwright, digests equal, on each of the three real registries
(plain HTTP; HTTPS with a test CA and htpasswd Basic auth; Bearer tokens from the test token
service), and the auth and TLS failures a user meets, each as one clear line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry_images import TestImage, make_image, make_index
from registry_peers import SKOPEO, skopeo_copy, skopeo_digest, skopeo_raw_manifest, skopeo_tags
from token_server import token_server_of

from boxwright.cli.main import main
from boxwright_testing.registry_servers import RegistryServer

pytestmark = [
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed"),
    pytest.mark.usefixtures("isolated_auth"),
]


def bw_flags(server: RegistryServer, side: str) -> list[str]:
    """boxwright's options to reach ``server`` (skopeo's spelling), for ``side`` src/dest."""
    flags = (
        [f"--{side}-cert-dir={server.cert_dir}"] if server.tls else [f"--{side}-tls-verify=false"]
    )
    if server.username:
        flags.append(f"--{side}-creds={server.creds}")
    return flags


def boxwright(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def layout_digest(layout: Path) -> str:
    digest: str = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    return digest


def assert_blobs_intact(layout: Path, digests: tuple[str, ...]) -> None:
    """Every expected blob is in the layout, and its bytes hash to its name."""
    for digest in digests:
        path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        assert path.is_file(), f"{digest} missing"
        assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == digest


def push(image: TestImage, server: RegistryServer, repo: str, tag: str = "latest") -> Result:
    result = boxwright(
        "copy", "--quiet", *bw_flags(server, "dest"), image.ref, server.ref(repo, tag)
    )
    assert result.exit_code == 0, result.output
    return result


def test_push_with_boxwright_pull_with_skopeo(registry_any: RegistryServer, tmp_path: Path) -> None:
    image = make_image(tmp_path / "src", layers=3)
    repo = registry_any.repo("bw-push")
    result = push(image, registry_any, repo, "v1")
    assert result.stdout.strip().splitlines()[-1] == image.manifest_digest
    assert skopeo_digest(registry_any, repo, "v1") == image.manifest_digest
    assert skopeo_tags(registry_any, repo) == ["v1"]
    back = tmp_path / "back"
    skopeo_copy(registry_any.ref(repo, "v1"), f"oci:{back}:v1", src_registry=registry_any)
    assert layout_digest(back) == image.manifest_digest
    assert_blobs_intact(back, image.blob_digests)


def test_push_with_skopeo_pull_with_boxwright(registry_any: RegistryServer, tmp_path: Path) -> None:
    image = make_image(tmp_path / "src", layers=3)
    repo = registry_any.repo("sk-push")
    skopeo_copy(image.ref, registry_any.ref(repo, "v2"), dest_registry=registry_any)
    dest = tmp_path / "pulled"
    result = boxwright(
        "copy",
        "--quiet",
        *bw_flags(registry_any, "src"),
        registry_any.ref(repo, "v2"),
        f"oci:{dest}:v2",
    )
    assert result.exit_code == 0, result.output
    assert layout_digest(dest) == image.manifest_digest
    assert_blobs_intact(dest, image.blob_digests)
    raw = (dest / "blobs" / "sha256" / image.manifest_digest.split(":", 1)[1]).read_bytes()
    assert raw == skopeo_raw_manifest(registry_any, repo, "v2")


def test_index_all_round_trip(registry_token: RegistryServer, tmp_path: Path) -> None:
    image = make_index(tmp_path / "src")
    repo = registry_token.repo("multi")
    result = boxwright(
        "copy",
        "--quiet",
        "--all",
        *bw_flags(registry_token, "dest"),
        image.ref,
        registry_token.ref(repo),
    )
    assert result.exit_code == 0, result.output
    assert skopeo_digest(registry_token, repo) == image.manifest_digest
    for child in image.children:
        assert skopeo_digest(registry_token, repo, child) == child
    dest = tmp_path / "pulled"
    result = boxwright(
        "copy",
        "--quiet",
        "--all",
        *bw_flags(registry_token, "src"),
        registry_token.ref(repo),
        f"oci:{dest}:latest",
    )
    assert result.exit_code == 0, result.output
    assert layout_digest(dest) == image.manifest_digest
    assert_blobs_intact(dest, (*image.children, *image.layer_digests))


@pytest.fixture(params=["tls_basic", "token"])
def registry_with_auth(request: pytest.FixtureRequest) -> RegistryServer:
    server: RegistryServer = request.getfixturevalue(f"registry_{request.param}")
    return server


def test_wrong_password_is_one_clear_line_without_the_password(
    registry_with_auth: RegistryServer, tmp_path: Path
) -> None:
    registry_any = registry_with_auth
    image = make_image(tmp_path / "src", layers=1)
    secret = "not-the-password-1234"
    flags = [f for f in bw_flags(registry_any, "dest") if not f.startswith("--dest-creds")]
    result = boxwright(
        "copy",
        *flags,
        f"--dest-creds={registry_any.username}:{secret}",
        image.ref,
        registry_any.ref(registry_any.repo("badpw")),
    )
    assert result.exit_code == 1
    assert secret not in result.output
    error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, result.stderr
    assert "auth" in error[0].lower() or "credential" in error[0].lower()
    assert "Traceback" not in result.output


def test_tls_registry_refuses_an_unknown_ca_and_accepts_tls_verify_false(
    registry_tls_basic: RegistryServer, tmp_path: Path
) -> None:
    server = registry_tls_basic
    image = make_image(tmp_path / "src", layers=1)
    repo = server.repo("tls")
    result = boxwright("copy", f"--dest-creds={server.creds}", image.ref, server.ref(repo))
    assert result.exit_code == 1
    assert "certificate" in result.stderr.lower() and "Traceback" not in result.output
    result = boxwright(
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        f"--dest-creds={server.creds}",
        image.ref,
        server.ref(repo),
    )
    assert result.exit_code == 0, result.output
    assert skopeo_digest(server, repo) == image.manifest_digest


def test_reader_may_pull_but_not_push(registry_token: RegistryServer, tmp_path: Path) -> None:
    server = registry_token
    image = make_image(tmp_path / "src", layers=1)
    repo = server.repo("ro")
    push(image, server, repo)
    reader, password = server.extra["reader"]  # type: ignore[misc]
    dest = tmp_path / "pulled"
    result = boxwright(
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        f"--src-creds={reader}:{password}",
        server.ref(repo),
        f"oci:{dest}:latest",
    )
    assert result.exit_code == 0, result.output
    assert layout_digest(dest) == image.manifest_digest
    result = boxwright(
        "copy",
        "--dest-tls-verify=false",
        f"--dest-creds={reader}:{password}",
        image.ref,
        server.ref(server.repo("ro-push")),
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output and str(password) not in result.output


def test_anonymous_pull_of_a_public_repository(
    registry_token: RegistryServer, tmp_path: Path
) -> None:
    server = registry_token
    image = make_image(tmp_path / "src", layers=1)
    repo = server.repo("public")
    push(image, server, repo)
    dest = tmp_path / "pulled"
    result = boxwright(
        "copy", "--quiet", "--src-tls-verify=false", server.ref(repo), f"oci:{dest}:latest"
    )
    assert result.exit_code == 0, result.output
    assert layout_digest(dest) == image.manifest_digest
    anonymous = [r for r in token_server_of(server).requests if r.user == ""]
    assert anonymous and all(r.status == 200 for r in anonymous)
