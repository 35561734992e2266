"""Throwaway signing keys for the signature tests: GPG homes with a fresh key, sigstore pairs.

:func:`gpg_home` makes a GnuPG home under a short /tmp path (gpg-agent's socket path must
stay short) holding one new ed25519 signing key without a passphrase, and exports its public
key; :meth:`GpgHome.close` stops the agent and removes the home. The session fixtures
``gpg_signer`` and ``gpg_other`` are two such keys (the second is the "wrong key").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

GPG = shutil.which("gpg")


@dataclass(frozen=True)
class GpgHome:
    """A GnuPG home with one signing key: its fingerprint and its exported public key."""

    home: Path
    fingerprint: str
    public_key: Path

    def env(self) -> dict[str, str]:
        """The environment that makes gpg (and skopeo's gpgme) use this home."""
        return dict(os.environ, GNUPGHOME=str(self.home))

    def close(self) -> None:
        """Stop the home's agent and remove it."""
        subprocess.run(
            ["gpgconf", "--homedir", str(self.home), "--kill", "all"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)


def gpg_home(user: str) -> GpgHome:
    """A new GnuPG home with a fresh signing key for ``user``."""
    if GPG is None:
        pytest.skip("gpg is not installed")
    home = Path(tempfile.mkdtemp(prefix="bw-gpg-", dir="/tmp"))
    home.chmod(0o700)
    base = [GPG, "--homedir", str(home), "--batch", "--no-tty"]
    subprocess.run(
        [
            *base,
            *("--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key"),
            *(f"{user} <{user}@example.com>", "ed25519", "sign", "never"),
        ],
        capture_output=True,
        check=True,
    )
    listing = subprocess.run(
        [*base, "--with-colons", "--fingerprint", "--list-secret-keys"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    public = home / "public.gpg"
    exported = subprocess.run(
        [*base, "--export", fingerprint], capture_output=True, check=True
    ).stdout
    public.write_bytes(exported)
    return GpgHome(home, fingerprint, public)


@pytest.fixture(scope="session")
def gpg_signer() -> Iterator[GpgHome]:
    """The GPG key that signs in the tests."""
    home = gpg_home("signer")
    yield home
    home.close()


@pytest.fixture(scope="session")
def gpg_other() -> Iterator[GpgHome]:
    """Another GPG key: a policy trusting it rejects the signer's signatures."""
    home = gpg_home("other")
    yield home
    home.close()


@pytest.fixture
def use_gpg_signer(gpg_signer: GpgHome, monkeypatch: pytest.MonkeyPatch) -> GpgHome:
    """``$GNUPGHOME`` set to the signer's home for this test."""
    monkeypatch.setenv("GNUPGHOME", str(gpg_signer.home))
    return gpg_signer
