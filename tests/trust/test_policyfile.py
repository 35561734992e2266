"""policy.json read as a document, and the policies recognised without the policy model as
accepting every image: exactly those that Policy parses into nothing but
insecureAcceptAnything requirements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from boxwright.config import trust as trust_config
from boxwright.errors import ConfigError
from boxwright.trust.policy import Policy
from boxwright.trust.policyfile import accepts_anything, accepts_every_image

ACCEPT = {"type": "insecureAcceptAnything"}
REJECT = {"type": "reject"}


def _parses_to_accept_only(document: Any) -> bool:
    """What the full model says: the document parses, and every requirement accepts."""
    try:
        policy = Policy.parse(json.dumps(document).encode(), "p.json")
    except ConfigError:
        return False
    lists = [policy.default, *(r for scopes in policy.transports.values() for r in scopes.values())]
    return all(req.type == "insecureAcceptAnything" for reqs in lists for req in reqs)


@pytest.mark.parametrize(
    ("document", "accepts"),
    [
        ({"default": [ACCEPT]}, True),
        ({"default": [ACCEPT, ACCEPT]}, True),
        ({"default": [ACCEPT], "transports": {}}, True),
        ({"default": [ACCEPT], "transports": None}, True),
        ({"default": [ACCEPT], "transports": {"docker": {"": [ACCEPT], "a/b": [ACCEPT]}}}, True),
        ({"default": [ACCEPT], "transports": {"docker": {}}}, True),
        ({"default": [REJECT]}, False),
        ({"default": [ACCEPT, REJECT]}, False),
        ({"default": [ACCEPT], "transports": {"docker": {"quay.io": [REJECT]}}}, False),
        ({"default": [ACCEPT], "transports": {"docker": {"quay.io": []}}}, False),
        ({"default": [ACCEPT], "transports": {"docker": []}}, False),
        ({"default": [ACCEPT], "transports": ["docker"]}, False),
        ({"default": [{"type": "insecureAcceptAnything", "extra": 1}]}, False),
        ({"default": [ACCEPT], "extra": 1}, False),
        ({"default": []}, False),
        ({"default": ACCEPT}, False),
        ({}, False),
        (
            {
                "default": [
                    {"type": "sigstoreSigned", "keyPath": "/k"},
                ]
            },
            False,
        ),
    ],
)
def test_accept_anything_is_what_the_policy_model_parses_into_accept_only(
    document: dict[str, Any], accepts: bool
) -> None:
    assert accepts_anything(document) is accepts
    assert _parses_to_accept_only(document) is accepts


_REQUIREMENTS = st.lists(
    st.sampled_from(
        [ACCEPT, REJECT, {"type": "insecureAcceptAnything", "x": 1}, {"type": 1}, {}, "x"]
    ),
    max_size=3,
)
_DOCUMENTS = st.dictionaries(
    st.sampled_from(["default", "transports", "other"]),
    st.one_of(
        _REQUIREMENTS,
        st.none(),
        st.dictionaries(
            st.sampled_from(["docker", "oci"]),
            st.one_of(st.dictionaries(st.sampled_from(["", "a/b"]), _REQUIREMENTS), _REQUIREMENTS),
            max_size=2,
        ),
    ),
    max_size=3,
)


@given(_DOCUMENTS)
def test_any_document_gets_the_verdict_of_the_full_parse(document: dict[str, Any]) -> None:
    assert accepts_anything(document) is _parses_to_accept_only(document)


@pytest.fixture
def no_policy_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No user or system policy.json; the process-wide choices forgotten afterwards."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(trust_config, "SYSTEM_POLICY", tmp_path / "absent.json")
    trust_config.reset()
    yield tmp_path
    trust_config.reset()


def test_the_policy_in_force_accepts_every_image_only_when_it_says_so(
    no_policy_files: Path,
) -> None:
    assert accepts_every_image() is True  # no policy.json anywhere
    accept, reject, broken = (no_policy_files / n for n in ("a.json", "r.json", "b.json"))
    accept.write_text(json.dumps({"default": [ACCEPT]}))
    reject.write_text(json.dumps({"default": [ACCEPT], "transports": {"oci": {"": [REJECT]}}}))
    broken.write_text("{")
    assert accepts_every_image(accept) is True
    assert accepts_every_image(reject) is False
    assert accepts_every_image(broken) is False  # the full parse reports it
    trust_config.configure(policy=reject)
    assert accepts_every_image() is False
    trust_config.configure(insecure_policy=True)
    assert accepts_every_image() is True
    assert accepts_every_image(reject) is False  # a policy named on purpose wins
    with pytest.raises(ConfigError) as caught:
        accepts_every_image(no_policy_files / "missing.json")
    assert str(caught.value) == (
        f"signature policy {no_policy_files / 'missing.json'} does not exist or is not a file"
    )
