"""Configuration the container tools share: paths, auth files, certificates, registries.conf.

* :mod:`~boxwright.config.paths` — store, config, cache and runtime directories (XDG, root vs
  rootless) and where the shared files live;
* :mod:`~boxwright.config.auth` — :class:`Credentials`, :func:`parse_creds` and
  :class:`AuthStore` (auth.json chain, Docker config, credential helpers);
* :mod:`~boxwright.config.certs` — :class:`TLSSettings` and :func:`tls_settings_for`
  (certs.d folders);
* :mod:`~boxwright.config.registries` — :class:`RegistriesConfig` (registries.conf v2 with
  drop-ins: prefixes, rewrites, mirrors, blocked and insecure registries, short names).

Names are re-exported lazily (PEP 562), so importing one module loads none of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "AuthStore",
    "Credentials",
    "Mirror",
    "PullSource",
    "RegistriesConfig",
    "Registry",
    "TLSSettings",
    "parse_creds",
    "tls_settings_for",
]


__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright.config.auth import AuthStore, Credentials, parse_creds
    from boxwright.config.certs import TLSSettings, tls_settings_for
    from boxwright.config.registries import Mirror, PullSource, RegistriesConfig, Registry
