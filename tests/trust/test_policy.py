"""policy.json as containers-policy.json(5) defines it: scopes and their precedence, the
requirements, signedIdentity, parse errors, and what holds when no policy file exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxwright.config import trust as trust_config
from boxwright.config.trust import docker_scopes
from boxwright.copy.admission import image_identity
from boxwright.errors import ConfigError, PolicyRejectedError
from boxwright.oci.digest import Digest
from boxwright.oci.reference import Reference
from boxwright.trust.policy import Check, ImageIdentity, Policy, SignedIdentity, default_policy

ACCEPT = {"type": "insecureAcceptAnything"}
REJECT = {"type": "reject"}
DIGEST = Digest.from_bytes(b"manifest")


def _policy(document: dict[str, object]) -> Policy:
    return Policy.parse(json.dumps(document).encode(), "test-policy.json")


def _check(policy: Policy, ref: str) -> None:
    policy.check(Check(image_identity(ref), DIGEST, lambda: []))


def test_docker_scopes_run_from_the_tag_to_the_parent_domains() -> None:
    ref = Reference.parse("registry.example.com:5000/team/app:1")
    assert docker_scopes(ref) == [
        "registry.example.com:5000/team/app:1",
        "registry.example.com:5000/team/app",
        "registry.example.com:5000/team",
        "registry.example.com:5000",
        "*.example.com",
        "*.com",
    ]


def test_dir_and_oci_scopes_are_their_paths_and_parents(tmp_path: Path) -> None:
    identity = image_identity(f"dir:{tmp_path}/a/b")
    assert identity.scope == f"{tmp_path}/a/b"
    assert identity.namespaces[:2] == (f"{tmp_path}/a", str(tmp_path))
    assert identity.namespaces[-1] == "/" + str(tmp_path).split("/")[1]
    oci = image_identity(f"oci:{tmp_path}/lay:tag")
    assert (oci.scope, oci.namespaces[0]) == (f"{tmp_path}/lay", f"{tmp_path}/lay")
    assert oci.docker_reference is None
    assert image_identity("docker-archive:/x.tar").scope == ""


@pytest.mark.parametrize(
    ("ref", "scope"),
    [
        ("docker://example.com/team/app:1", "docker 'example.com/team/app:1'"),
        ("docker://example.com/team/app:2", "docker 'example.com/team/app'"),
        ("docker://example.com/team/other:1", "docker 'example.com/team'"),
        ("docker://example.com/else:1", "docker 'example.com'"),
        ("docker://sub.example.com/else:1", "docker '*.example.com'"),
        ("docker://elsewhere.org/x:1", 'docker ""'),
        ("oci:/tmp/somewhere:x", "default"),
    ],
)
def test_the_most_specific_scope_wins(ref: str, scope: str) -> None:
    scopes = {
        "example.com/team/app:1": [REJECT],
        "example.com/team/app": [REJECT],
        "example.com/team": [REJECT],
        "example.com": [REJECT],
        "*.example.com": [REJECT],
        "": [REJECT],
    }
    policy = _policy({"default": [REJECT], "transports": {"docker": scopes}})
    assert policy.requirements_for(image_identity(ref))[0] == scope
    with pytest.raises(PolicyRejectedError) as caught:
        _check(policy, ref)
    assert str(caught.value) == (
        f"Source image {ref} rejected by test-policy.json ({scope}): requirement reject: "
        f"Running image {ref} is rejected by policy."
    )


def test_a_more_specific_accept_overrides_a_rejecting_default() -> None:
    policy = _policy(
        {
            "default": [REJECT],
            "transports": {"docker": {"example.com/ok": [ACCEPT], "": [REJECT]}},
        }
    )
    _check(policy, "docker://example.com/ok:1")
    with pytest.raises(PolicyRejectedError):
        _check(policy, "docker://example.com/not-ok:1")


def test_every_requirement_of_the_list_must_accept() -> None:
    policy = _policy({"default": [ACCEPT, REJECT]})
    with pytest.raises(PolicyRejectedError, match=r"requirement reject: Running image"):
        _check(policy, "docker://example.com/a:1")


def test_a_signed_requirement_without_signatures_names_itself() -> None:
    import base64

    from boxwright.trust.sigstore import generate_key_pair

    key_data = base64.b64encode(generate_key_pair(b"pw").public_pem).decode()
    requirement = {
        "type": "sigstoreSigned",
        "keyData": key_data,
        "signedIdentity": {"type": "matchRepository"},
    }
    policy = _policy({"default": [requirement]})
    with pytest.raises(PolicyRejectedError) as caught:
        _check(policy, "docker://example.com/a:1")
    assert str(caught.value) == (
        "Source image docker://example.com/a:1 rejected by test-policy.json (default): "
        "requirement sigstoreSigned (keyData, signedIdentity matchRepository): "
        "A signature was required, but no signature exists"
    )


def _identity(ref: str | None) -> ImageIdentity:
    docker = Reference.parse_normalized(ref) if ref else None
    return ImageIdentity("docker", "", (), docker, ref or "dir:/x")


@pytest.mark.parametrize(
    ("rule", "image", "signed", "expected"),
    [
        (SignedIdentity("matchExact"), "example.com/a:1", "example.com/a:1", True),
        (SignedIdentity("matchExact"), "example.com/a:1", "example.com/a:2", False),
        (SignedIdentity("matchRepoDigestOrExact"), "example.com/a:1", "example.com/a:1", True),
        (SignedIdentity("matchRepoDigestOrExact"), "example.com/a:1", "example.com/a:2", False),
        (
            SignedIdentity("matchRepoDigestOrExact"),
            f"example.com/a@{DIGEST}",
            "example.com/a:any",
            True,
        ),
        (SignedIdentity("matchRepository"), "example.com/a:1", "example.com/a:9", True),
        (SignedIdentity("matchRepository"), "example.com/a:1", "example.com/b:1", False),
        (SignedIdentity("matchRepository"), None, "example.com/a:1", False),
        (
            SignedIdentity("exactReference", docker_reference="example.com/a:1"),
            None,
            "example.com/a:1",
            True,
        ),
        (
            SignedIdentity("exactRepository", docker_repository="example.com/a"),
            None,
            "example.com/a:7",
            True,
        ),
        (
            SignedIdentity("remapIdentity", prefix="mirror.local/x", signed_prefix="example.com"),
            "mirror.local/x/a:1",
            "example.com/a:1",
            True,
        ),
        (
            SignedIdentity("remapIdentity", prefix="mirror.local/x", signed_prefix="example.com"),
            "mirror.local/xy/a:1",
            "example.com/a:1",
            False,
        ),
    ],
)
def test_signed_identity_rules(
    rule: SignedIdentity, image: str | None, signed: str, expected: bool
) -> None:
    assert rule.matches(_identity(image), signed) is expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "invalid policy in test-policy.json: Default policy is missing"),
        ({"default": []}, "list of verification policy requirements must not be empty"),
        ({"default": [{"type": "nope"}]}, 'unknown policy requirement type "nope"'),
        (
            {"default": [{"type": "signedBy", "keyType": "GPGKeys"}]},
            "exactly one of keyPath, keyPaths and keyData must be specified",
        ),
        (
            {"default": [{"type": "sigstoreSigned", "keyPath": "/k", "fulcio": {}}]},
            "sigstoreSigned field 'fulcio' is not supported",
        ),
        (
            {
                "default": [
                    {
                        "type": "signedBy",
                        "keyType": "GPGKeys",
                        "keyPath": "/k",
                        "signedIdentity": {"type": "exactReference", "dockerReference": "a/b"},
                    }
                ]
            },
            "dockerReference a/b contains neither a tag nor digest",
        ),
        ({"default": [ACCEPT], "extra": 1}, "unknown field 'extra'"),
    ],
)
def test_malformed_policies_are_one_clear_error(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _policy(document)
    assert message in str(caught.value)


def test_without_any_policy_file_every_image_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(trust_config, "SYSTEM_POLICY", tmp_path / "absent.json")
    policy = default_policy()
    assert policy.source == "no policy.json exists: every image is accepted"
    _check(policy, "docker://example.com/a:1")


def test_the_user_policy_comes_before_the_system_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system.json"
    system.write_text(json.dumps({"default": [ACCEPT]}))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(trust_config, "SYSTEM_POLICY", system)
    assert default_policy().source == str(system)
    user = tmp_path / ".config" / "containers" / "policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": [REJECT]}))
    assert default_policy().source == str(user)
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"default": [ACCEPT]}))
    assert default_policy(explicit).source == str(explicit)
    with pytest.raises(ConfigError, match=r"^signature policy /nonexistent does not exist"):
        default_policy(Path("/nonexistent"))
