"""skopeo against the test registries: the peer that boxwright's pushes and pulls are checked by.

:func:`skopeo_flags` turns a :class:`RegistryServer` into the options skopeo needs for it
(``--tls-verify=false`` for plain HTTP, ``--cert-dir`` with the test CA for TLS, ``--creds``),
per side (``src``/``dest``) for ``copy`` or unprefixed for ``inspect``/``list-tags``/``delete``.
skopeo runs with an empty auth file of its own, so nothing from the machine leaks in.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from boxwright_testing.registry_servers import RegistryServer

SKOPEO = shutil.which("skopeo")


class PeerError(AssertionError):
    """skopeo failed; the message carries its stderr."""


def skopeo_flags(server: RegistryServer | None, side: str = "") -> list[str]:
    """Options that let skopeo reach ``server`` (``side`` is "src", "dest" or "")."""
    if server is None:
        return []
    prefix = f"--{side}-" if side else "--"
    flags: list[str] = []
    if server.tls:
        assert server.cert_dir is not None
        flags.append(f"{prefix}cert-dir={server.cert_dir}")
    else:
        flags.append(f"{prefix}tls-verify=false")
    if server.username:
        flags.append(f"{prefix}creds={server.creds}")
    return flags


def _isolated_env() -> dict[str, str]:
    """skopeo's environment: an empty auth file, so only ``--creds`` count."""
    env = dict(os.environ)
    auth = Path(tempfile.gettempdir()) / "boxwright-tests-skopeo-auth.json"
    if not auth.exists():
        auth.write_text('{"auths": {}}')
    env["REGISTRY_AUTH_FILE"] = str(auth)
    return env


def skopeo(*args: str | os.PathLike[str], timeout: float = 300) -> str:
    """Run skopeo and return its stdout; raise :class:`PeerError` with its stderr."""
    if SKOPEO is None:
        raise PeerError("skopeo is not installed (scripts/install-test-deps)")
    done = subprocess.run(
        [SKOPEO, "--insecure-policy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_isolated_env(),
    )
    if done.returncode != 0:
        raise PeerError(f"skopeo {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def skopeo_copy(
    src: str,
    dst: str,
    *,
    src_registry: RegistryServer | None = None,
    dest_registry: RegistryServer | None = None,
    extra: tuple[str, ...] = (),
) -> None:
    """``skopeo copy SRC DST`` with the flags each registry side needs."""
    skopeo(
        "copy",
        "--quiet",
        *skopeo_flags(src_registry, "src"),
        *skopeo_flags(dest_registry, "dest"),
        *extra,
        src,
        dst,
    )


def skopeo_raw_manifest(server: RegistryServer, repo: str, ref: str = "latest") -> bytes:
    """The manifest bytes the registry serves for ``repo:ref`` (or ``repo@digest``)."""
    sep = "@" if ref.startswith("sha256:") else ":"
    out = skopeo(
        "inspect", "--raw", *skopeo_flags(server), f"docker://{server.host}/{repo}{sep}{ref}"
    )
    return out.encode()


def skopeo_digest(server: RegistryServer, repo: str, ref: str = "latest") -> str:
    """``sha256:...`` of the manifest the registry serves (hash of its exact bytes)."""
    # skopeo prints the raw bytes followed by nothing else; text mode keeps them exact for JSON.
    raw = skopeo_raw_manifest(server, repo, ref)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def skopeo_tags(server: RegistryServer, repo: str) -> list[str]:
    out = skopeo("list-tags", *skopeo_flags(server), f"docker://{server.host}/{repo}")
    data: dict[str, Any] = json.loads(out)
    return sorted(data.get("Tags") or [])
