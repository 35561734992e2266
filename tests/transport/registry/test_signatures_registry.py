"""Signatures of registry images, against skopeo 1.9 and a real registry.

GPG simple signing goes both ways: what boxwright signs (``--sign-by``, stored in the
registries.d lookaside) skopeo accepts under a ``signedBy`` policy, and what skopeo signs
boxwright accepts; a wrong key, an identity mismatch, a tampered manifest and an unsigned image
are rejected by both. Debian's skopeo is built with sigstore disabled ("Debian-local change:
sigstore disabled"), so for sigstore skopeo is the carrier only: it copies boxwright's
``sha256-HEX.sig`` attachments to a ``dir:`` image byte for byte, which proves they are in the
format containers/image reads; boxwright verifies them, and cosign's own signatures
(tests/trust).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from registry_images import make_image
from registry_peers import SKOPEO

from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import PolicyRejectedError
from boxwright.oci.reference import Reference
from boxwright.transport.docker import DockerSource
from boxwright.transport.options import TransportOptions
from boxwright.trust.policy import Policy
from boxwright.trust.signature import SigstoreSignature, from_blob
from boxwright.trust.signing import GpgSigner
from boxwright.trust.sigstore import SigstoreSigner, write_key_pair
from boxwright_testing.registry_servers import RegistryServer
from boxwright_testing.signing import GpgHome

pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


@pytest.fixture
def registries_d(tmp_path: Path) -> Path:
    """A registries.d with a file:// lookaside and sigstore attachments on."""
    directory = tmp_path / "registries.d"
    directory.mkdir()
    lookaside = tmp_path / "lookaside"
    (directory / "default.yaml").write_text(
        f"default-docker:\n  lookaside: file://{lookaside}\n  use-sigstore-attachments: true\n"
    )
    return directory


def _opts(registries_d: Path) -> TransportOptions:
    return TransportOptions(tls_verify=False, registries_d=registries_d)


def _push(
    tmp_path: Path, server: RegistryServer, repo: str, registries_d: Path, *signers: object
) -> str:
    layout = tmp_path / f"layout-{repo.replace('/', '-')}"
    make_image(layout, seed=repo)
    ref = f"docker://{server.host}/{repo}"
    copy_image(
        f"oci:{layout}:latest",
        ref,
        CopyOptions(
            dest_options=_opts(registries_d),
            signers=tuple(signers),  # type: ignore[arg-type]
            policy=Policy.accept_anything(),
        ),
    )
    return ref


def _policy(tmp_path: Path, requirement: dict[str, object], name: str = "policy.json") -> Path:
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "docker": {"": [requirement]},
                    "dir": {"": [requirement]},
                    "oci": {"": [{"type": "insecureAcceptAnything"}]},
                },
            }
        )
    )
    return path


def _skopeo(
    policy: Path | None, registries_d: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    head = [SKOPEO, "--registries.d", str(registries_d)]
    head += ["--insecure-policy"] if policy is None else ["--policy", str(policy)]
    return subprocess.run(
        [*head, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )


def _boxwright_reads(ref: str, policy: Path, registries_d: Path, dest: Path) -> None:
    copy_image(
        ref,
        f"dir:{dest}",
        CopyOptions(src_options=_opts(registries_d), policy=Policy.load(policy)),
    )


# -- GPG ---------------------------------------------------------------------------------------


def test_boxwright_gpg_signature_is_accepted_by_skopeo(
    tmp_path: Path,
    registry_plain: RegistryServer,
    registries_d: Path,
    use_gpg_signer: GpgHome,
) -> None:
    ref = _push(
        tmp_path, registry_plain, "sign/gpg-bw", registries_d, GpgSigner(use_gpg_signer.fingerprint)
    )
    lookaside = list((tmp_path / "lookaside" / "sign").glob("gpg-bw@sha256=*/signature-1"))
    assert len(lookaside) == 1
    policy = _policy(
        tmp_path,
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(use_gpg_signer.public_key)},
    )
    done = _skopeo(
        policy, registries_d, "copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'sk'}"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sk" / "signature-1").read_bytes() == lookaside[0].read_bytes()
    _boxwright_reads(ref, policy, registries_d, tmp_path / "bw")
    assert (tmp_path / "bw" / "signature-1").read_bytes() == lookaside[0].read_bytes()


def test_skopeo_gpg_signature_is_accepted_by_boxwright(
    tmp_path: Path,
    registry_plain: RegistryServer,
    registries_d: Path,
    gpg_signer: GpgHome,
) -> None:
    layout = tmp_path / "layout"
    make_image(layout, seed="skopeo-signed")
    ref = f"docker://{registry_plain.host}/sign/gpg-sk:1"
    done = _skopeo(
        None,
        registries_d,
        "copy",
        "--dest-tls-verify=false",
        "--sign-by",
        gpg_signer.fingerprint,
        f"oci:{layout}:latest",
        ref,
        env=gpg_signer.env(),
    )
    assert done.returncode == 0, done.stderr
    policy = _policy(
        tmp_path, {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(gpg_signer.public_key)}
    )
    _boxwright_reads(ref, policy, registries_d, tmp_path / "bw")
    assert (tmp_path / "bw" / "signature-1").is_file()


@pytest.mark.parametrize("case", ["wrong key", "identity mismatch", "unsigned"])
def test_both_reject_what_the_gpg_policy_does_not_accept(
    case: str,
    tmp_path: Path,
    registry_plain: RegistryServer,
    registries_d: Path,
    use_gpg_signer: GpgHome,
    gpg_other: GpgHome,
) -> None:
    signers = () if case == "unsigned" else (GpgSigner(use_gpg_signer.fingerprint),)
    repo = f"sign/reject-{case.replace(' ', '-')}"
    ref = _push(tmp_path, registry_plain, repo, registries_d, *signers)
    key = gpg_other if case == "wrong key" else use_gpg_signer
    requirement: dict[str, object] = {
        "type": "signedBy",
        "keyType": "GPGKeys",
        "keyPath": str(key.public_key),
    }
    if case == "identity mismatch":
        requirement["signedIdentity"] = {
            "type": "exactReference",
            "dockerReference": f"{registry_plain.host}/sign/other:1",
        }
    policy = _policy(tmp_path, requirement)
    done = _skopeo(
        policy, registries_d, "copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'sk'}"
    )
    assert done.returncode != 0
    assert "Source image rejected" in done.stderr
    reason = {
        "wrong key": "Invalid GPG signature: ERRSIG",
        "identity mismatch": rf"Signature for identity {registry_plain.host}/{repo}:latest is "
        "not accepted",
        "unsigned": "A signature was required, but no signature exists",
    }[case]
    with pytest.raises(PolicyRejectedError, match=rf"^Source image docker://.*: {reason}$"):
        _boxwright_reads(ref, policy, registries_d, tmp_path / "bw")
    assert not (tmp_path / "bw" / "manifest.json").exists()


def test_a_tampered_manifest_is_rejected_by_both(
    tmp_path: Path,
    registry_plain: RegistryServer,
    registries_d: Path,
    use_gpg_signer: GpgHome,
) -> None:
    ref = _push(
        tmp_path, registry_plain, "sign/tamper", registries_d, GpgSigner(use_gpg_signer.fingerprint)
    )
    signed = tmp_path / "signed"
    copy_image(ref, f"dir:{signed}", CopyOptions(src_options=_opts(registries_d)))
    manifest = signed / "manifest.json"
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    requirement = {
        "type": "signedBy",
        "keyType": "GPGKeys",
        "keyPath": str(use_gpg_signer.public_key),
        "signedIdentity": {
            "type": "exactReference",
            "dockerReference": f"{registry_plain.host}/sign/tamper:latest",
        },
    }
    policy = _policy(tmp_path, requirement)
    done = _skopeo(policy, registries_d, "copy", f"dir:{signed}", f"dir:{tmp_path / 'sk'}")
    assert done.returncode != 0
    assert "Source image rejected" in done.stderr
    assert "does not match" in done.stderr
    with pytest.raises(
        PolicyRejectedError, match=r"Signature for digest sha256:[0-9a-f]{64} does not match$"
    ):
        copy_image(
            f"dir:{signed}", f"dir:{tmp_path / 'bw'}", CopyOptions(policy=Policy.load(policy))
        )
    # the untouched copy is accepted by both
    manifest.write_bytes(manifest.read_bytes()[:-1])
    done = _skopeo(policy, registries_d, "copy", f"dir:{signed}", f"dir:{tmp_path / 'sk2'}")
    assert done.returncode == 0, done.stderr
    copy_image(f"dir:{signed}", f"dir:{tmp_path / 'bw2'}", CopyOptions(policy=Policy.load(policy)))


# -- sigstore ----------------------------------------------------------------------------------


def test_sigstore_attachments_are_carried_by_skopeo_and_verified_by_boxwright(
    tmp_path: Path, registry_plain: RegistryServer, registries_d: Path
) -> None:
    private, public = write_key_pair(tmp_path / "key", b"pw")
    _, other_public = write_key_pair(tmp_path / "other", b"pw")
    signer = SigstoreSigner.from_file(private, b"pw")
    ref = _push(tmp_path, registry_plain, "sign/sigstore", registries_d, signer)

    source = DockerSource(
        Reference.parse(f"{registry_plain.host}/sign/sigstore:latest"), _opts(registries_d)
    )
    try:
        blobs = source.get_signatures()
    finally:
        source.close()
    assert len(blobs) == 1
    signature = from_blob(blobs[0])
    assert isinstance(signature, SigstoreSignature)

    done = _skopeo(
        None, registries_d, "copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'sk'}"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sk" / "signature-1").read_bytes() == blobs[0]

    accept = _policy(tmp_path, {"type": "sigstoreSigned", "keyPath": str(public)}, "accept.json")
    _boxwright_reads(ref, accept, registries_d, tmp_path / "bw")
    identity = {
        "type": "exactReference",
        "dockerReference": f"{registry_plain.host}/sign/sigstore:latest",
    }
    dir_accept = _policy(
        tmp_path,
        {"type": "sigstoreSigned", "keyPath": str(public), "signedIdentity": identity},
        "dir-accept.json",
    )
    copy_image(
        f"dir:{tmp_path / 'sk'}",
        f"dir:{tmp_path / 'bw2'}",
        CopyOptions(policy=Policy.load(dir_accept)),
    )
    wrong = _policy(tmp_path, {"type": "sigstoreSigned", "keyPath": str(other_public)}, "w.json")
    with pytest.raises(
        PolicyRejectedError, match=r": cryptographic signature verification failed$"
    ):
        _boxwright_reads(ref, wrong, registries_d, tmp_path / "bw3")
    mismatch = _policy(
        tmp_path,
        {
            "type": "sigstoreSigned",
            "keyPath": str(public),
            "signedIdentity": {"type": "exactRepository", "dockerRepository": "example.com/x"},
        },
        "m.json",
    )
    with pytest.raises(
        PolicyRejectedError,
        match=rf": Signature for identity {registry_plain.host}/sign/sigstore:latest is not "
        "accepted$",
    ):
        _boxwright_reads(ref, mismatch, registries_d, tmp_path / "bw4")
    unsigned = _push(tmp_path, registry_plain, "sign/sigstore-unsigned", registries_d)
    with pytest.raises(
        PolicyRejectedError, match=r": A signature was required, but no signature exists$"
    ):
        _boxwright_reads(unsigned, accept, registries_d, tmp_path / "bw5")
    # a second signature is appended to the attachment manifest, not replacing the first
    second = SigstoreSigner.from_file(tmp_path / "other.private", b"pw")
    copy_image(
        ref,
        ref,
        CopyOptions(
            src_options=_opts(registries_d), dest_options=_opts(registries_d), signers=(second,)
        ),
    )
    source = DockerSource(source.reference, _opts(registries_d))
    try:
        assert len(source.get_signatures()) == 2
    finally:
        source.close()
