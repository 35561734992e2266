"""Turning registry answers and network failures into boxwright's typed errors.

Every message is one line that names the registry and what failed, never a URL query, a
header or a credential: the distribution API's error body contributes its ``code`` and a
trimmed ``message``, and network exceptions contribute their class of failure.

A lost request is a :class:`NetworkFailure` (the wire, :mod:`.wire`, raises it from urllib3's
exception); :func:`network_error` turns it into a typed error.
"""

from __future__ import annotations

import json
import ssl
from typing import TYPE_CHECKING

from boxwright.errors import (
    AuthenticationError,
    BlobNotFoundError,
    ImageNotFoundError,
    RegistryError,
    StalledTransferError,
    TLSError,
)
from boxwright.transport.registry.capped import read_capped

if TYPE_CHECKING:
    from boxwright.transport.registry.wire import Answer

MAX_ERROR_BODY = 64 * 1024
_MESSAGE_LIMIT = 200


class NetworkFailure(Exception):
    """A request lost on its way (a connection that failed, a read that broke, an answer
    that was not HTTP).

    Raised ``from`` the urllib3, socket or TLS exception, which stays the cause.
    """


class ConnectFailure(NetworkFailure):
    """The wire could not connect (refused, unreachable, TLS handshake failed)."""


class NetworkTimeout(NetworkFailure):
    """The wire waited longer than the session's timeout (connecting or reading)."""


class StallFailure(NetworkTimeout):
    """A transfer that moved fewer bytes than its stall policy's floor in one window
    (:class:`~boxwright.transport.registry.stall.StallPolicy`).

    ``seconds`` is the window, ``moved`` what moved in it, ``direction`` ``received`` or
    ``sent``. The message says it in words ("nothing was received for 10 s").
    """

    def __init__(self, seconds: float, moved: int, min_bytes: int, direction: str) -> None:
        if moved:
            text = (
                f"only {moved} bytes were {direction} in {seconds:g} s "
                f"(at least {min_bytes} expected)"
            )
        else:
            text = f"nothing was {direction} for {seconds:g} s"
        super().__init__(text)
        self.seconds = seconds
        self.moved = moved
        self.direction = direction


class ProtocolFailure(NetworkFailure):
    """The registry's answer was not valid HTTP/1.1 (or redirected outside HTTP)."""


def error_codes(body: bytes) -> list[tuple[str, str]]:
    """``(code, message)`` pairs of a distribution API error body (``{"errors": [...]}``)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    out = []
    for item in errors:
        if isinstance(item, dict):
            code = item.get("code")
            message = item.get("message")
            out.append(
                (
                    code if isinstance(code, str) else "",
                    message[:_MESSAGE_LIMIT] if isinstance(message, str) else "",
                )
            )
    return out


def read_error_body(answer: Answer) -> bytes:
    """The first bytes of an error answer (at most :data:`MAX_ERROR_BODY`), closing it."""
    try:
        return read_capped(answer, MAX_ERROR_BODY)[:MAX_ERROR_BODY]
    except NetworkFailure:
        return b""


def status_error(
    response: Answer,
    host: str,
    what: str,
    *,
    authenticated: bool = False,
    not_found: type[Exception] | None = None,
) -> Exception:
    """The typed error for an unexpected status answering a request about ``what``.

    ``not_found`` is the class a 404 becomes (:class:`ImageNotFoundError` for manifests and
    repositories, :class:`BlobNotFoundError` for blobs); ``authenticated`` says whether
    credentials were given, which decides the advice of a 401.
    """
    status = response.status_code
    body = read_error_body(response)
    codes = error_codes(body)
    code = codes[0][0] if codes else ""
    detail = "; ".join(f"{c}: {m}" if m else c for c, m in codes if c or m)
    suffix = f" ({detail})" if detail else ""
    if status == 401:
        if authenticated:
            return AuthenticationError(
                f"{host}: the registry refused the credentials for {what}{suffix}", status, code
            )
        return AuthenticationError(
            f"{host}: authentication required for {what}; log in with "
            f"'boxwright login {host}' or give --creds{suffix}",
            status,
            code,
        )
    if status == 403:
        return AuthenticationError(f"{host}: access to {what} denied{suffix}", status, code)
    if status == 404 and not_found is not None:
        if not_found is ImageNotFoundError:
            return ImageNotFoundError(f"{host}: {what} not found{suffix}")
        if not_found is BlobNotFoundError:
            return BlobNotFoundError(f"{host}: {what} not found{suffix}")
    if status == 429:
        return RegistryError(
            f"{host}: too many requests for {what}; the registry asks to slow down", status, code
        )
    reason = response.reason_phrase or "error"
    return RegistryError(f"{host}: HTTP {status} {reason} for {what}{suffix}", status, code)


def network_error(error: Exception, host: str, what: str, timeout: float) -> RegistryError:
    """The typed error for a network failure (connect, TLS, read, timeout, protocol)."""
    if _is_tls(error):
        return TLSError(
            f"{host}: TLS failed for {what}: {_tls_reason(error)} (trust its CA in "
            f"/etc/containers/certs.d/{host}/ or use --tls-verify=false)"
        )
    if isinstance(error, StallFailure):
        return StalledTransferError(f"{host}: {what} stalled: {error}")
    kind = _failure_kind(error)
    if kind == "timeout":
        return RegistryError(f"{host}: no answer within {timeout:g} s for {what}")
    if kind == "connect":
        return RegistryError(f"{host}: cannot connect for {what}: {_short(error)}")
    if kind == "protocol":
        return RegistryError(f"{host}: the connection broke during {what}: {_short(error)}")
    if kind == "network":
        return RegistryError(f"{host}: network error during {what}: {_short(error)}")
    return RegistryError(f"{host}: {type(error).__name__} during {what}: {_short(error)}")


def _failure_kind(error: Exception) -> str:
    """``timeout``, ``connect``, ``protocol``, ``network`` (another lost request) or ""."""
    if isinstance(error, NetworkTimeout):
        return "timeout"
    if isinstance(error, ConnectFailure):
        return "connect"
    if isinstance(error, ProtocolFailure):
        return "protocol"
    return "network" if isinstance(error, NetworkFailure) else ""


def _is_tls(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return True
        if "SSL" in str(current) or "CERTIFICATE" in str(current).upper():
            return True
        current = current.__cause__ or current.__context__
    return False


def _tls_reason(error: BaseException) -> str:
    current: BaseException | None = error
    while current is not None:
        verify_message = getattr(current, "verify_message", "")
        if isinstance(current, ssl.SSLCertVerificationError) and verify_message:
            return str(verify_message)
        reason = getattr(current, "reason", "")
        if isinstance(current, ssl.SSLError) and reason:
            return str(reason).lower().replace("_", " ")
        current = current.__cause__ or current.__context__
    return _short(error)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:_MESSAGE_LIMIT]
