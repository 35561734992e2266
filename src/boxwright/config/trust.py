"""Where the signature configuration lives: policy.json and the registries.d directory.

Both follow containers/image, so boxwright reads the files podman and skopeo users have:

* the signature policy (containers-policy.json(5)): ``--signature-policy``/``--policy`` when
  given, else ``$HOME/.config/containers/policy.json``, else ``/etc/containers/policy.json``
  (:func:`policy_path`; None when neither exists);
* the signature storage configuration (containers-registries.d(5)): ``--registries.d`` when
  given, else ``$HOME/.config/containers/registries.d`` when it exists, else
  ``/etc/containers/registries.d``: YAML files whose ``default-docker`` and ``docker``
  namespaces say where GPG signatures live (``lookaside``, written to ``lookaside-staging``
  when set) and whether sigstore signatures are attachments in the registry
  (``use-sigstore-attachments``) (:class:`RegistriesD`).

The command line sets the process-wide choices once (:func:`configure`); a library caller
passes paths explicitly instead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from boxwright.config.paths import SYSTEM_CONTAINERS_DIR, home_dir, is_rootless
from boxwright.errors import ConfigError

if TYPE_CHECKING:
    from boxwright.oci.reference import Reference

USER_POLICY: Final = Path(".config/containers/policy.json")
"""The user's policy.json, under ``$HOME``."""
SYSTEM_POLICY: Final = SYSTEM_CONTAINERS_DIR / "policy.json"
USER_REGISTRIES_D: Final = Path(".config/containers/registries.d")
SYSTEM_REGISTRIES_D: Final = SYSTEM_CONTAINERS_DIR / "registries.d"
ROOT_LOOKASIDE: Final = Path("/var/lib/containers/sigstore")
"""Where GPG signatures of registry images live when registries.d names no lookaside (root)."""
USER_LOOKASIDE: Final = Path(".local/share/containers/sigstore")
"""The same for everyone else, under ``$HOME``."""


@dataclass(slots=True)
class TrustSettings:
    """The process-wide signature settings the command line's global options choose.

    ``policy``: the policy.json to use instead of the default locations; ``insecure_policy``:
    accept every image without reading any policy (skopeo's ``--insecure-policy``);
    ``registries_d``: the registries.d directory to use instead of the default ones.
    """

    policy: Path | None = None
    insecure_policy: bool = False
    registries_d: Path | None = None


_SETTINGS = TrustSettings()


def configure(
    *,
    policy: Path | None = None,
    insecure_policy: bool | None = None,
    registries_d: Path | None = None,
) -> None:
    """Set the process-wide choices (given values only; None leaves a choice as it is)."""
    if policy is not None:
        _SETTINGS.policy = Path(policy)
    if insecure_policy is not None:
        _SETTINGS.insecure_policy = insecure_policy
    if registries_d is not None:
        _SETTINGS.registries_d = Path(registries_d)


def settings() -> TrustSettings:
    """The process-wide choices as they are now (a copy)."""
    return TrustSettings(_SETTINGS.policy, _SETTINGS.insecure_policy, _SETTINGS.registries_d)


def reset() -> None:
    """Forget every process-wide choice (for a program that runs several commands)."""
    _SETTINGS.policy = None
    _SETTINGS.insecure_policy = False
    _SETTINGS.registries_d = None


def policy_path(explicit: Path | None = None) -> Path | None:
    """The policy.json in force: ``explicit``, else the configured one, else the user's, else
    the system's; None when none of the default files exists.

    An explicit or configured path that does not exist is a :class:`ConfigError`, as in
    skopeo: a policy named on purpose must be there.
    """
    chosen = explicit if explicit is not None else _SETTINGS.policy
    if chosen is not None:
        if not Path(chosen).is_file():
            raise ConfigError(f"signature policy {chosen} does not exist or is not a file")
        return Path(chosen)
    for candidate in (home_dir() / USER_POLICY, SYSTEM_POLICY):
        if _usable(candidate, stat.S_ISREG):
            return candidate
    return None


def _usable(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether ``path`` is there as ``kind`` for this process; one it may not even look at
    (``$HOME`` of another user) is skipped, as containers/image skips a default path whose
    ``stat`` fails."""
    try:
        return kind(path.stat().st_mode)
    except OSError:
        return False


def registries_d_dir(explicit: Path | None = None) -> Path:
    """The registries.d directory in force: ``explicit``, else the configured one, else the
    user's when it exists, else the system's (which may not exist)."""
    if explicit is not None:
        return Path(explicit)
    if _SETTINGS.registries_d is not None:
        return _SETTINGS.registries_d
    user = home_dir() / USER_REGISTRIES_D
    if _usable(user, stat.S_ISDIR):
        return user
    return SYSTEM_REGISTRIES_D


def docker_scopes(ref: Reference) -> list[str]:
    """The scopes that may configure ``ref``, most specific first, as containers/image
    orders them: the reference with its tag or digest, the repository, each parent
    namespace, the host, then ``*.DOMAIN`` for each parent domain of the host."""
    scopes = []
    if ref.tag:
        scopes.append(f"{ref.name}:{ref.tag}")
    elif ref.digest is not None:
        scopes.append(f"{ref.name}@{ref.digest}")
    name = ref.name
    while True:
        scopes.append(name)
        slash = name.rfind("/")
        if slash == -1:
            break
        name = name[:slash]
    host = name.split(":", 1)[0]
    while "." in host:
        host = host.split(".", 1)[1]
        scopes.append(f"*.{host}")
    return scopes


@dataclass(frozen=True, slots=True)
class Namespace:
    """One ``docker`` (or ``default-docker``) entry of registries.d."""

    lookaside: str = ""
    lookaside_staging: str = ""
    use_sigstore_attachments: bool | None = None

    def lookaside_url(self, write: bool) -> str:
        """The lookaside base URL for reading, or for writing (staging first)."""
        if write and self.lookaside_staging:
            return self.lookaside_staging
        return self.lookaside


_NAMESPACE_KEYS: Final = {
    "lookaside": "lookaside",
    "sigstore": "lookaside",
    "lookaside-staging": "lookaside_staging",
    "sigstore-staging": "lookaside_staging",
}


def _namespace(value: object, where: str) -> Namespace:
    if value is None:
        return Namespace()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: a namespace must be a mapping")
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key == "use-sigstore-attachments":
            if not isinstance(item, bool):
                raise ConfigError(f"{where}: use-sigstore-attachments must be true or false")
            fields["use_sigstore_attachments"] = item
        elif key in _NAMESPACE_KEYS:
            if not isinstance(item, str):
                raise ConfigError(f"{where}: {key} must be a URL string")
            # lookaside wins over its deprecated name sigstore, as in containers/image
            if key.startswith("lookaside") or _NAMESPACE_KEYS[key] not in fields:
                fields[_NAMESPACE_KEYS[key]] = item
        # other keys (containers/image's openshift extension and future ones) are ignored
    return Namespace(**fields)


@dataclass(frozen=True, slots=True)
class RegistriesD:
    """The merged registries.d configuration: ``default-docker`` and the ``docker``
    namespaces of every ``*.yaml`` file of the directory (a namespace, or the default,
    defined in two files is a :class:`ConfigError`, as in containers/image)."""

    default: Namespace | None = None
    docker: Mapping[str, Namespace] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path | None = None) -> RegistriesD:
        """Read the directory :func:`registries_d_dir` chooses (an absent one is empty)."""
        path = registries_d_dir(directory)
        try:
            names = sorted(os.listdir(path))
        except FileNotFoundError:
            return cls()
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {error.strerror}") from None
        import yaml

        default: Namespace | None = None
        default_from = ""
        docker: dict[str, Namespace] = {}
        docker_from: dict[str, str] = {}
        for name in names:
            if not name.endswith(".yaml"):
                continue
            file = path / name
            try:
                data = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                raise ConfigError(f"parsing {file}: {error}") from None
            if data is None:
                continue
            if not isinstance(data, Mapping):
                raise ConfigError(f"parsing {file}: the document must be a mapping")
            if data.get("default-docker") is not None:
                if default is not None:
                    raise ConfigError(
                        f'"default-docker" defined both in "{default_from}" and "{file}"'
                    )
                default, default_from = _namespace(data["default-docker"], str(file)), str(file)
            spaces = data.get("docker") or {}
            if not isinstance(spaces, Mapping):
                raise ConfigError(f"parsing {file}: docker must be a mapping of namespaces")
            for scope, value in spaces.items():
                if scope in docker:
                    raise ConfigError(
                        f'"docker" namespace "{scope}" defined both in "{docker_from[scope]}" '
                        f'and "{file}"'
                    )
                docker[str(scope)] = _namespace(value, f"{file}: {scope}")
                docker_from[str(scope)] = str(file)
        return cls(default, docker)

    def _chain(self, ref: Reference) -> list[Namespace]:
        """The namespaces that apply to ``ref``, most specific first, then the default."""
        chain = [self.docker[scope] for scope in docker_scopes(ref) if scope in self.docker]
        if self.default is not None:
            chain.append(self.default)
        return chain

    def lookaside(self, ref: Reference, *, write: bool) -> str:
        """The lookaside base URL for ``ref``'s repository (with the repository path added),
        the built-in default directory when no namespace names one."""
        base = ""
        for namespace in self._chain(ref):
            base = namespace.lookaside_url(write)
            if base:
                break
        if not base:
            local = home_dir() / USER_LOOKASIDE if is_rootless() else ROOT_LOOKASIDE
            base = local.as_uri()
        return base.rstrip("/") + "/" + ref.path

    def use_sigstore_attachments(self, ref: Reference) -> bool:
        """Whether sigstore signatures of ``ref`` are read from and written to the registry
        as ``sha256-HEX.sig`` attachments (off unless a namespace turns it on)."""
        for namespace in self._chain(ref):
            if namespace.use_sigstore_attachments is not None:
                return namespace.use_sigstore_attachments
        return False


__all__ = [
    "Namespace",
    "RegistriesD",
    "TrustSettings",
    "configure",
    "docker_scopes",
    "policy_path",
    "registries_d_dir",
    "reset",
    "settings",
]
