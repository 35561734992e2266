"""Per-side transport options: credentials, TLS, auth file and tuning for one source or sink.

skopeo takes these per side (``--src-creds``/``--dest-creds``, ``--src-tls-verify``, ...); a
copy carries one :class:`TransportOptions` for its source and one for its destination
(:class:`~boxwright.copy.CopyOptions` ``src_options``/``dest_options``). Transports that do not
talk to a registry ignore them, as skopeo's do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.errors import UsageError

if TYPE_CHECKING:
    from boxwright.config.auth import Credentials


# One field per transport flag (skopeo's --authfile, --tls-verify, ...), each optional; the
# same shape as copy.CopyOptions and build.configedit.ConfigChanges, for other flags.
@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How to reach one side of a copy.

    ``credentials``: use these instead of the auth file (``--creds USER:PASS``).
    ``authfile``: the auth.json to read (``--authfile``; default: the containers chain).
    ``tls_verify``: False allows an untrusted certificate and plain HTTP (``--tls-verify=false``);
    None follows registries.conf (``insecure = true``).
    ``cert_dir``: a directory of ``*.crt`` CAs and ``*.cert``/``*.key`` client pairs used
    instead of the certs.d directories (``--cert-dir``).
    ``registries_conf``: a registries.conf to use instead of the system ones.
    ``chunk_size``: upload blobs in PATCH chunks of this many bytes (None: one PUT).
    ``retries``: how often a failed request is retried after its first try, skopeo's
    ``--retry-times`` (None: the default, 3).
    ``retry_delay``: seconds between two tries, skopeo's ``--retry-delay`` (None or 0:
    exponential backoff from 0.25 s; a registry's ``Retry-After`` still wins).
    ``stall_timeout``: seconds in which a transfer must move at least 1 KiB, else it has
    stalled and is tried again (None: the default, 10 s; see ``docs/transports.md``).
    ``blob_info_cache``: the cache file; None uses the default, ``use_blob_info_cache`` False
    keeps the cache in memory only.
    ``store_root``: the local store a ``store:`` reference opens (None: ``$BOXWRIGHT_ROOT``,
    else the default store root).
    ``registries_d``: the registries.d directory saying where a registry's signatures live
    (None: ``--registries.d``, else the default directories; see ``docs/trust.md``).
    """

    credentials: Credentials | None = field(default=None, repr=False)
    authfile: Path | None = None
    tls_verify: bool | None = None
    cert_dir: Path | None = None
    registries_conf: Path | None = None
    chunk_size: int | None = None
    retries: int | None = None
    retry_delay: float | None = None
    stall_timeout: float | None = None
    blob_info_cache: Path | None = None
    use_blob_info_cache: bool = True
    store_root: Path | None = None
    registries_d: Path | None = None

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.chunk_size < 1:
            raise UsageError(
                f"chunk size must be a positive number of bytes, not {self.chunk_size}"
            )
        if self.retries is not None and self.retries < 0:
            raise UsageError(f"retries must be 0 or more, not {self.retries}")
        if self.retry_delay is not None and not self.retry_delay >= 0:
            raise UsageError(f"retry delay must be 0 s or more, not {self.retry_delay}")
        if self.stall_timeout is not None and not self.stall_timeout > 0:
            raise UsageError(f"stall timeout must be more than 0 s, not {self.stall_timeout}")


__all__ = ["TransportOptions"]
