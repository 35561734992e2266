"""policy.json as a document: read, bounded, decoded, and recognised when it accepts every
image.

:class:`~boxwright.trust.policy.Policy` parses the document this module decodes into its
requirements. A copy under a policy that accepts every image (``--insecure-policy``, no
policy.json, or one whose every requirement is ``insecureAcceptAnything``, as distributions
ship it) has nothing to check, so it asks :func:`accepts_every_image` first and does not load
the policy model, the signature formats or the verifiers at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from boxwright.config.trust import policy_path, settings
from boxwright.errors import ConfigError

MAX_POLICY_SIZE: Final = 4 << 20
"""The largest policy.json read."""

_ACCEPT: Final = {"type": "insecureAcceptAnything"}


def read_policy(path: Path) -> bytes:
    """The bytes of the policy file ``path`` (:class:`ConfigError` when it cannot be read)."""
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read signature policy {path}: {error.strerror}") from None


# The size, JSON and object checks every document reader makes (oci._json.loads_object for
# image documents, docker_archive's manifest.json): a policy's failures are ConfigErrors that
# name the policy, as containers/image words them.
def decode_policy(raw: bytes, source: str) -> dict[str, Any]:
    """The JSON object of a policy document (:class:`ConfigError` when it is too large, not
    JSON, or not an object); ``source`` names it in messages."""
    if len(raw) > MAX_POLICY_SIZE:
        raise ConfigError(f"invalid policy in {source}: larger than {MAX_POLICY_SIZE} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"invalid policy in {source}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"invalid policy in {source}: the document must be a JSON object")
    return data


def _accepting(requirements: object) -> bool:
    return (
        isinstance(requirements, list)
        and bool(requirements)
        and all(requirement == _ACCEPT for requirement in requirements)
    )


def accepts_anything(document: dict[str, Any]) -> bool:
    """Whether ``document`` is a valid policy whose every requirement, in ``default`` and in
    every scope of every transport, is ``insecureAcceptAnything`` (and nothing else): one that
    :class:`~boxwright.trust.policy.Policy` parses and that accepts every image. False for
    anything else, valid or not."""
    if set(document) - {"default", "transports"} or not _accepting(document.get("default")):
        return False
    transports = document.get("transports") or {}
    if not isinstance(transports, dict):
        return False
    return all(
        isinstance(scopes, dict) and all(_accepting(each) for each in scopes.values())
        for scopes in transports.values()
    )


def accepts_every_image(explicit: Path | None = None) -> bool:
    """Whether the policy in force (``explicit``, else as
    :func:`~boxwright.trust.policy.default_policy` finds it) accepts every image without a
    look at it: ``--insecure-policy``, no policy.json anywhere, or a policy.json that
    :func:`accepts_anything`. A file that cannot be read or decoded is not (the full parse
    then reports it); a named file that does not exist is the :class:`ConfigError` of
    :func:`~boxwright.config.trust.policy_path`."""
    if explicit is None and settings().insecure_policy:
        return True
    path = policy_path(explicit)
    if path is None:
        return True
    try:
        document = decode_policy(read_policy(path), str(path))
    except ConfigError:
        return False
    return accepts_anything(document)


__all__ = [
    "MAX_POLICY_SIZE",
    "accepts_anything",
    "accepts_every_image",
    "decode_policy",
    "read_policy",
]
