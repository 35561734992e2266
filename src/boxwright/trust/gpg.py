"""GPG simple signing through the ``gpg`` program.

Signing runs ``gpg --sign`` with the user's keyring (``$GNUPGHOME``, else ``~/.gnupg``):
the payload goes in on stdin and the OpenPGP message (the signature blob containers/image
stores) comes out. Verifying never trusts the user's keyring: the keys a policy names are
imported into a throwaway home directory, the message is checked there, and its literal data
(the payload) comes back with the fingerprint of the primary key that signed it, as
containers/image's gpgme mechanism does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from boxwright.errors import SignatureError
from boxwright.oci.digest import Digest
from boxwright.trust.signature import SIMPLE_SIGNING_TYPE, SimpleSigning, make_payload

GPG: Final = "gpg"
TIMEOUT: Final = 60.0
"""Seconds a gpg run may take (signing may wait for an agent)."""


def _gpg_missing() -> SignatureError:
    return SignatureError(f"signing and verifying GPG signatures needs the {GPG} program")


def sign(
    manifest_digest: Digest,
    docker_reference: str,
    fingerprint: str,
    passphrase_file: Path | None = None,
) -> SimpleSigning:
    """A simple signing signature by the key ``fingerprint`` of the user's keyring."""
    payload = make_payload(manifest_digest, docker_reference, SIMPLE_SIGNING_TYPE)
    command = [GPG, "--no-tty", "--local-user", fingerprint]
    if passphrase_file is not None:
        command += ["--batch", "--pinentry-mode", "loopback", "--passphrase-file"]
        command.append(str(passphrase_file))
    command += ["--sign", "--output", "-"]
    try:
        done = subprocess.run(
            command, input=payload, capture_output=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise _gpg_missing() from None
    except subprocess.TimeoutExpired:
        raise SignatureError(f"gpg did not sign within {TIMEOUT:.0f} s") from None
    if done.returncode != 0 or not done.stdout:
        reason = _last_line(done.stderr) or f"exit status {done.returncode}"
        raise SignatureError(f"creating signature with GPG key {fingerprint}: {reason}")
    return SimpleSigning(done.stdout)


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


@dataclass(frozen=True, slots=True)
class Verified:
    """A signature whose cryptography checked out: the payload and the signer's primary key
    fingerprint."""

    payload: bytes
    fingerprint: str


class Keyring:
    """Public keys imported into a throwaway GnuPG home; close (or ``with``) removes it."""

    def __init__(self, keyrings: Iterable[bytes]) -> None:
        if shutil.which(GPG) is None:
            raise _gpg_missing()
        self.home = Path(tempfile.mkdtemp(prefix="boxwright-gpg-"))
        self.fingerprints: frozenset[str] = frozenset()
        try:
            for data in keyrings:
                self._run(["--import"], data)
            self.fingerprints = frozenset(self._primary_fingerprints())
        except BaseException:
            self.close()
            raise

    def _run(self, args: Sequence[str], data: bytes | None = None) -> bytes:
        env = dict(os.environ, GNUPGHOME=str(self.home))
        try:
            done = subprocess.run(
                [GPG, "--homedir", str(self.home), "--batch", "--no-tty", *args],
                input=data,
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
                env=env,
            )
        except subprocess.TimeoutExpired:
            raise SignatureError(f"gpg did not answer within {TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            raise SignatureError(f"gpg {args[0]}: {_last_line(done.stderr)}")
        return done.stdout

    def _primary_fingerprints(self) -> list[str]:
        out = self._run(["--with-colons", "--fingerprint", "--list-keys"])
        found, primary = [], False
        for line in out.decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if fields[0] == "pub":
                primary = True
            elif fields[0] == "sub":
                primary = False
            elif fields[0] == "fpr" and primary and len(fields) > 9:
                found.append(fields[9])
                primary = False
        return found

    def verify(self, signature: SimpleSigning) -> Verified:
        """The payload and signer of ``signature``; a :class:`SignatureError` when it is not
        exactly one good signature by a key of this keyring."""
        if not self.fingerprints:
            raise SignatureError("No public keys imported")
        work = Path(tempfile.mkdtemp(prefix="boxwright-verify-"))
        try:
            blob, plain = work / "signature", work / "payload"
            blob.write_bytes(signature.blob)
            env = dict(os.environ, GNUPGHOME=str(self.home))
            done = subprocess.run(
                [
                    GPG,
                    "--homedir",
                    str(self.home),
                    "--batch",
                    "--no-tty",
                    "--trust-model",
                    "always",
                    "--status-fd",
                    "1",
                    "--output",
                    str(plain),
                    "--decrypt",
                    str(blob),
                ],
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
                env=env,
            )
            status = [
                line.split()[1:]
                for line in done.stdout.decode("utf-8", "replace").splitlines()
                if line.startswith("[GNUPG:] ") and len(line.split()) > 1
            ]
            valid = [fields for fields in status if fields[0] == "VALIDSIG"]
            good = [fields for fields in status if fields[0] == "GOODSIG"]
            bad = [fields[0] for fields in status if fields[0] in _BAD_STATUS]
            if done.returncode != 0 or bad or len(valid) != 1 or len(good) != 1:
                reason = bad[0] if bad else _last_line(done.stderr) or "no valid signature"
                raise SignatureError(f"Invalid GPG signature: {reason}")
            fields = valid[0]
            primary = fields[10] if len(fields) > 10 else fields[1]
            if primary not in self.fingerprints:
                raise SignatureError(f"Signature by key {primary} is not accepted")
            return Verified(plain.read_bytes(), primary)
        except subprocess.TimeoutExpired:
            raise SignatureError(f"gpg did not verify within {TIMEOUT:.0f} s") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        """Remove the throwaway home directory."""
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Keyring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_BAD_STATUS: Final = frozenset(
    {"BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY", "DECRYPTION_FAILED"}
)


__all__ = ["Keyring", "Verified", "sign"]
