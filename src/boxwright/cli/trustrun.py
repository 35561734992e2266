"""The work of ``trust`` (:mod:`boxwright.cli.trust` declares it): the signatures an image
carries and the policy's verdict (:func:`boxwright.copy.admission.verify_image`), as text or
JSON. Imported when the command runs, with the policy and signature modules it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from boxwright.cli.output import emit_json
from boxwright.cli.sanitize import echo, escape
from boxwright.copy.admission import TrustReport, verify_image
from boxwright.errors import PolicyRejectedError

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform


def show_trust(image: str, platform: Platform | None, fmt: str) -> None:
    """Print the signatures ``image`` carries and the verdict (``fmt`` ``json``: as JSON);
    :class:`~boxwright.errors.PolicyRejectedError` when the policy rejects it."""
    report = verify_image(image, platform=platform)
    if fmt == "json":
        emit_json(_as_dict(report))
    else:
        _print(report)
    if not report.accepted:
        raise PolicyRejectedError(report.reason)


def _as_dict(report: TrustReport) -> dict[str, Any]:
    return {
        "Image": report.image,
        "Digest": str(report.digest),
        "Signatures": [
            {
                "Kind": info.kind,
                "ClaimedReference": info.claimed_reference,
                "ClaimedDigest": info.claimed_digest,
                "Error": info.error,
            }
            for info in report.signatures
        ],
        "Policy": report.policy,
        "Scope": report.scope,
        "Requirements": list(report.requirements),
        "Accepted": report.accepted,
        "Reason": report.reason,
    }


def _print(report: TrustReport) -> None:
    echo(f"Image:        {escape(report.image)}")
    echo(f"Digest:       {report.digest}")
    echo(f"Signatures:   {len(report.signatures)}")
    for info in report.signatures:
        line = f"  - {info.kind}"
        if info.claimed_reference is not None:
            line += f" for {escape(info.claimed_reference)} ({escape(info.claimed_digest or '')})"
        if info.error is not None:
            line += f": {escape(info.error)}"
        echo(line)
    echo(f"Policy:       {escape(report.policy)}")
    echo(f"Scope:        {escape(report.scope)}")
    for requirement in report.requirements:
        echo(f"  requires    {escape(requirement)}")
    echo(f"Accepted:     {'yes' if report.accepted else 'no'}")


__all__ = ["show_trust"]
