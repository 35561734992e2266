"""Registries as an unprivileged user, the CI pod case: ``login`` writes the user's own
auth.json (mode 0600 under ``$XDG_RUNTIME_DIR``), and ``copy`` pushes and pulls through TLS
with Basic auth and through a Bearer token service, reading that file; skopeo, as root, sees the
digests boxwright pushed."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from registry_images import make_image
from registry_peers import SKOPEO, skopeo_digest

from boxwright.cli.main import main
from boxwright_testing.registry_servers import RegistryServer
from boxwright_testing.users import User, as_user, chown_tree, owned_dir


@pytest.fixture
def user_dir(unprivileged_user: User) -> Iterator[Path]:
    with owned_dir(unprivileged_user, "bx-registry-") as path:
        yield path


def _cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _login_push_pull(
    work: Path, server: RegistryServer, repo: str, image_ref: str, tls: list[str]
) -> dict[str, Any]:
    """In the child, as the user: log in, push ``image_ref``, pull it back into a layout."""
    runtime = work / "runtime"
    runtime.mkdir(mode=0o700)
    os.environ.update(
        XDG_RUNTIME_DIR=str(runtime),
        HOME=str(work),
        XDG_CONFIG_HOME=str(work / ".config"),
        XDG_CACHE_HOME=str(work / ".cache"),
    )
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
        os.environ.pop(name, None)
    login = _cli(
        "login", *tls, "-u", server.username, "--password-stdin", server.host,
        stdin=server.password + "\n",
    )  # fmt: skip
    tls_src = [f"--src-{flag[2:]}" if flag.startswith("--") else flag for flag in tls]
    tls_dest = [f"--dest-{flag[2:]}" if flag.startswith("--") else flag for flag in tls]
    pushed = _cli("copy", "--quiet", *tls_dest, image_ref, server.ref(repo, "v1"))
    pulled = _cli("copy", "--quiet", *tls_src, server.ref(repo, "v1"), f"oci:{work / 'out'}:v1")
    seen: dict[str, Any] = {
        "codes": (login[0], pushed[0], pulled[0]),
        "errors": (login[2], pushed[2], pulled[2]),
        "pushed": pushed[1].strip(),
    }
    if pulled[0] == 0:
        index = json.loads((work / "out" / "index.json").read_text())
        seen["pulled"] = index["manifests"][0]["digest"]
    auth = runtime / "containers" / "auth.json"
    if login[0] == 0:
        seen["auth_mode"] = stat.S_IMODE(auth.stat().st_mode)
        seen["auth_hosts"] = sorted(json.loads(auth.read_text())["auths"])
    return seen


def _warm_up(work: Path, server: RegistryServer, image_ref: str, tls: list[str]) -> None:
    """The same flow once as root (environment restored after): the user's forked child
    cannot read the interpreter's modules under /root, so it must find every one loaded."""
    saved = dict(os.environ)
    try:
        seen = _login_push_pull(work, server, server.repo("warm-up"), image_ref, tls)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert seen["codes"] == (0, 0, 0), seen["errors"]


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
@pytest.mark.parametrize("kind", ["tls_basic", "token"])
def test_an_unprivileged_user_logs_in_pushes_and_pulls(
    kind: str,
    request: pytest.FixtureRequest,
    unprivileged_user: User,
    user_dir: Path,
    tmp_path: Path,
) -> None:
    server: RegistryServer = request.getfixturevalue(f"registry_{kind}")
    image = make_image(user_dir / "image", layers=2, layer_size=30000, seed=kind)
    tls = ["--tls-verify=false"]
    if server.tls:
        assert server.cert_dir is not None
        cert_dir = user_dir / "certs"
        shutil.copytree(server.cert_dir, cert_dir)  # the fixture's own copy is root's alone
        tls = ["--cert-dir", str(cert_dir)]
    _warm_up(tmp_path, server, image.ref, tls)
    chown_tree(user_dir, unprivileged_user)
    repo = server.repo("rootless")
    seen = as_user(unprivileged_user, _login_push_pull, user_dir, server, repo, image.ref, tls)
    assert seen["codes"] == (0, 0, 0), seen["errors"]
    assert seen["pushed"] == image.manifest_digest
    assert seen["pulled"] == image.manifest_digest
    assert seen["auth_mode"] == 0o600
    assert seen["auth_hosts"] == [server.host]
    assert skopeo_digest(server, repo, "v1") == image.manifest_digest
