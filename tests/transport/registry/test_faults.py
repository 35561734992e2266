"""Copies through the fault proxy: dropped connections mid-blob, 503 and 429 answers, stalls and
corrupted bytes. Each copy either succeeds with exactly the right image or fails with one clear
line, and the destination never holds a partial or corrupt blob."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fault_proxy import FaultProxy
from registry_images import TestImage, make_image
from registry_peers import SKOPEO, skopeo_copy, skopeo_digest

from boxwright.cli.main import main
from boxwright_testing.registry_servers import RegistryServer

pytestmark = [
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed"),
    pytest.mark.usefixtures("isolated_auth"),
]

LAYER = 300_000  # bytes of random data per layer: a few hundred KB of gzip each


def boxwright(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def pull(server: RegistryServer, repo: str, dest: Path) -> Result:
    return boxwright(
        "copy", "--quiet", "--src-tls-verify=false", server.ref(repo), f"oci:{dest}:latest"
    )


def push(image: TestImage, server: RegistryServer, repo: str) -> Result:
    return boxwright("copy", "--quiet", "--dest-tls-verify=false", image.ref, server.ref(repo))


def seeded(registry: RegistryServer, tmp_path: Path, layers: int = 2) -> tuple[TestImage, str]:
    """An image pushed by skopeo straight to the registry (not through the proxy)."""
    image = make_image(tmp_path / "src", layers=layers, layer_size=LAYER)
    repo = registry.repo("fault")
    skopeo_copy(image.ref, registry.ref(repo), dest_registry=registry)
    return image, repo


def blob_files(layout: Path) -> dict[str, Path]:
    """Every file under blobs/ by name, and a check that each one hashes to its name."""
    found: dict[str, Path] = {}
    root = layout / "blobs"
    if not root.exists():
        return found
    for path in root.rglob("*"):
        if path.is_file():
            found[path.name] = path
    return found


def assert_only_good_blobs(layout: Path) -> None:
    """No temp files, no partial blobs: every file in blobs/ is named by its own digest."""
    for name, path in blob_files(layout).items():
        assert len(name) == 64, f"stray file {path}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == name, f"corrupt blob {path}"


def assert_pulled(layout: Path, image: TestImage) -> None:
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest
    names = set(blob_files(layout))
    assert {d.split(":", 1)[1] for d in image.blob_digests} <= names
    assert_only_good_blobs(layout)


def test_pull_resumes_after_a_connection_dropped_mid_blob(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    image, repo = seeded(registry_plain, tmp_path)
    layer = image.layer_digests[0]
    fault_proxy.drop_response(50_000, path=layer)
    dest = tmp_path / "pulled"
    result = pull(proxied_registry, repo, dest)
    assert result.exit_code == 0, result.output
    assert_pulled(dest, image)
    gets = fault_proxy.seen("GET", layer)
    assert [s.status for s in gets] == [0, 206]  # the drop, then a Range request for the rest


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (429, "1")])
def test_pull_retries_503_and_429(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
    status: int,
    retry_after: str | None,
) -> None:
    image, repo = seeded(registry_plain, tmp_path)
    layer = image.layer_digests[1]
    fault_proxy.fail(status, times=2, method="GET", path=layer, retry_after=retry_after)
    fault_proxy.fail(status, times=1, path="/manifests/")
    dest = tmp_path / "pulled"
    started = time.monotonic()
    result = pull(proxied_registry, repo, dest)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert_pulled(dest, image)
    assert [s.status for s in fault_proxy.seen("GET", layer)] == [status, status, 200]
    if retry_after is not None:
        assert elapsed >= 2.0  # Retry-After: 1 honoured before each of the two retries


def test_pull_gives_up_on_a_registry_that_keeps_failing(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    image, repo = seeded(registry_plain, tmp_path)
    fault_proxy.fail(503, times=1000, method="GET", path=image.layer_digests[0])
    dest = tmp_path / "pulled"
    started = time.monotonic()
    result = pull(proxied_registry, repo, dest)
    assert result.exit_code == 1
    assert time.monotonic() - started < 60
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "503" in errors[0], result.stderr
    assert 1 < fault_proxy.count("GET", image.layer_digests[0]) <= 10
    assert image.layer_digests[0].split(":", 1)[1] not in blob_files(dest)
    assert_only_good_blobs(dest)


def test_a_blob_whose_bytes_do_not_match_is_rejected(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    image, repo = seeded(registry_plain, tmp_path)
    layer = image.layer_digests[0]
    fault_proxy.corrupt(offset=1000, times=1000, path=layer)
    dest = tmp_path / "pulled"
    result = pull(proxied_registry, repo, dest)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and layer in errors[0], result.stderr
    assert "digest" in errors[0].lower()
    assert layer.split(":", 1)[1] not in blob_files(dest)
    assert_only_good_blobs(dest)


def test_a_stall_shorter_than_the_timeout_only_slows_the_pull(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    image, repo = seeded(registry_plain, tmp_path)
    fault_proxy.stall(1.0, after_bytes=10_000, path=image.layer_digests[0])
    dest = tmp_path / "pulled"
    started = time.monotonic()
    result = pull(proxied_registry, repo, dest)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1.0
    assert_pulled(dest, image)


def test_push_survives_a_dropped_upload_and_leaves_no_partial_blob(
    registry_plain: RegistryServer,
    proxied_registry: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    image = make_image(tmp_path / "src", layers=2, layer_size=LAYER)
    repo = proxied_registry.repo("updrop")
    fault_proxy.drop_request(20_000, method=None, path=r"/blobs/uploads/.+")
    result = push(image, proxied_registry, repo)
    if result.exit_code != 0:
        # Failing is allowed, clearly; then a second run completes the push.
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.stderr
        result = push(image, proxied_registry, repo)
    assert result.exit_code == 0, result.output
    assert skopeo_digest(registry_plain, repo) == image.manifest_digest
    assert [s.fault for s in fault_proxy.requests].count("drop_request") == 1
    back = tmp_path / "back"
    skopeo_copy(registry_plain.ref(repo), f"oci:{back}:latest", src_registry=registry_plain)
    assert_pulled(back, image)


def test_a_no_op_copy_makes_one_manifest_check_and_nothing_else(
    proxied_registry: RegistryServer, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "src", layers=3)
    repo = proxied_registry.repo("noop")
    assert push(image, proxied_registry, repo).exit_code == 0
    fault_proxy.reset()
    result = push(image, proxied_registry, repo)
    assert result.exit_code == 0, result.output
    checks = [(s.method, s.path, s.status) for s in fault_proxy.requests]
    assert checks == [("HEAD", f"/v2/{repo}/manifests/latest", 200)], fault_proxy.requests
