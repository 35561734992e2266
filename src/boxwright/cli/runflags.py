"""The everyday flags of ``boxwright run`` beyond the ones every run command takes.

podman's names and meanings: ports (``-p``, ``-P``), the container's names and resolver
(``--hostname``, ``--add-host``, ``--dns``, ``--dns-search``, ``--dns-option``), files
(``--env-file``, ``--mount``, ``--tmpfs``, ``--read-only``), privileges (``--cap-add``,
``--cap-drop``, ``--security-opt``, ``--privileged``), the image (``--pull``, ``--platform``)
and resources (``--memory``, ``--cpus``, ``--pids-limit``). :func:`run_flags` declares them,
:func:`apply_run_flags` turns their values into :class:`~boxwright.runtime.options.RunOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from boxwright.errors import UsageError
from boxwright.runtime.ports import parse_publish

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.runtime.options import RunOptions

F = TypeVar("F", bound=Callable[..., Any])
_SECURITY_OPTS = ("no-new-privileges", "no-new-privileges=true", "no-new-privileges=false")


def run_flags(func: F) -> F:
    """Declare the flags of this module on ``run``."""
    decorators = [
        click.option("-p", "--publish", multiple=True, metavar="[IP:][HOST:]CONTAINER[/PROTO]",
                     help="Publish a container's port on the host (through the network helper)."),
        click.option("-P", "--publish-all", is_flag=True,
                     help="Publish every port the image EXPOSEs on a free host port."),
        click.option("--hostname", default=None, help="The container's host name."),
        click.option("--add-host", multiple=True, metavar="HOST:IP",
                     help="Add a line to the container's /etc/hosts."),
        click.option("--dns", multiple=True, metavar="IP", help="A nameserver for the container."),
        click.option("--dns-search", multiple=True, metavar="DOMAIN",
                     help="A DNS search domain ('.' for none)."),
        click.option("--dns-option", multiple=True, metavar="OPTION",
                     help="An options entry of the container's /etc/resolv.conf."),
        click.option("--env-file", multiple=True, type=click.Path(dir_okay=False),
                     help="Read K=V lines (and bare K) from a file, as -e does."),
        click.option("--mount", "mounts", multiple=True, metavar="type=bind|volume|tmpfs,...",
                     help="Attach a bind mount, a named volume or a tmpfs."),
        click.option("--tmpfs", multiple=True, metavar="DEST[:OPTIONS]",
                     help="Mount a tmpfs (rw,noexec,nosuid,nodev by default)."),
        click.option("--read-only", is_flag=True,
                     help="Mount the root file system read-only (tmpfs on /tmp, /var/tmp, /run)."),
        click.option("--cap-add", multiple=True, metavar="CAP",
                     help="Add a capability (ALL for every one)."),
        click.option("--cap-drop", multiple=True, metavar="CAP",
                     help="Drop a capability (ALL for every one)."),
        click.option("--security-opt", multiple=True, metavar="no-new-privileges",
                     help="Security options: no-new-privileges is supported."),
        click.option("--privileged", is_flag=True,
                     help="Every capability, the host's devices, nothing masked (as podman)."),
        click.option("--pull", "pull_policy", default="missing",
                     type=click.Choice(["always", "missing", "never", "newer"]),
                     help="Pull the image first: always, when missing, or never."),
        click.option("-m", "--memory", default=None, metavar="SIZE",
                     help="Memory limit (cgroup v2, delegated), e.g. 512m."),
        click.option("--cpus", default=None, type=float, help="CPU limit (cgroup v2), e.g. 1.5."),
        click.option("--pids-limit", default=None, type=int,
                     help="Process limit (cgroup v2)."),
    ]  # fmt: skip
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _read_env_file(path: str) -> list[str]:
    """podman's ``--env-file``: one ``K=V`` or ``K`` a line; ``#`` comments and blank lines
    skipped; values taken as they are (no quotes removed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise click.BadParameter(f"{path}: {error.strerror}", param_hint="--env-file") from None
    entries = []
    for line in text.splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name = line.partition("=")[0]
        if not name or name != name.strip() or " " in name:
            raise click.BadParameter(f"{path}: invalid line {line!r}", param_hint="--env-file")
        entries.append(line)
    return entries


def _add_host(text: str) -> tuple[str, str]:
    name, sep, address = text.partition(":")
    if not sep or not name or not address:
        raise click.BadParameter(f"{text!r}: expected HOST:IP", param_hint="--add-host")
    return name, address


def _capabilities(add: tuple[str, ...], drop: tuple[str, ...]) -> tuple[str, ...] | None:
    """The capability set ``--cap-add``/``--cap-drop`` make of the default one (podman: drops
    apply first, then adds; ``ALL`` stands for every capability)."""
    if not add and not drop:
        return None
    from boxwright.runtime.spec import CAPABILITY_NUMBERS, DEFAULT_CAPABILITIES, capability_name

    every = list(CAPABILITY_NUMBERS)
    caps = list(DEFAULT_CAPABILITIES)
    if any(d.upper() == "ALL" for d in drop):
        caps = []
    else:
        dropped = {capability_name(d) for d in drop}
        caps = [c for c in caps if c not in dropped]
    for name in add:
        for cap in every if name.upper() == "ALL" else [capability_name(name)]:
            if cap not in caps:
                caps.append(cap)
    return tuple(caps)


def apply_run_flags(options: RunOptions, flags: dict[str, Any]) -> RunOptions:
    """``options`` with what this module's flags (in ``flags``) ask for."""
    from boxwright.runtime.volumes import parse_mount, read_only_mounts, tmpfs_mount

    for option in flags["security_opt"]:
        if option not in _SECURITY_OPTS:
            raise click.BadParameter(f"unsupported {option!r}", param_hint="--security-opt")
    env = [e for path in flags["env_file"] for e in _read_env_file(path)]
    volumes = list(options.volumes)
    extra: list[dict[str, Any]] = []
    for text in flags["mounts"]:
        mount = parse_mount(text)
        if isinstance(mount, dict):
            extra.append(mount)
        else:
            volumes.append(mount)
    for text in flags["tmpfs"]:
        destination, _, opts = text.partition(":")
        extra.append(tmpfs_mount(destination, opts))
    if flags["read_only"]:
        taken = {m["destination"] for m in extra} | {v.destination for v in volumes}
        extra += [m for m in read_only_mounts() if m["destination"] not in taken]
    ports = tuple(str(p) for text in flags["publish"] for p in parse_publish(text))
    return replace(
        options,
        env=(*env, *options.env),
        volumes=tuple(volumes),
        extra_mounts=(*options.extra_mounts, *extra),
        read_only=flags["read_only"],
        network=flags["network"] or "private",
        publish=ports,
        publish_all=flags["publish_all"],
        hostname=flags["hostname"],
        add_hosts=tuple(_add_host(h) for h in flags["add_host"]),
        dns=flags["dns"],
        dns_search=flags["dns_search"],
        dns_options=flags["dns_option"],
        capabilities=_capabilities(flags["cap_add"], flags["cap_drop"]),
        no_new_privileges=any(o != "no-new-privileges=false" for o in flags["security_opt"]),
        privileged=flags["privileged"],
        memory=flags["memory"],
        cpus=flags["cpus"],
        pids_limit=flags["pids_limit"],
    )


def pull_for_run(image: str, flags: dict[str, Any], platform: Platform | None) -> str:
    """The image ``run`` uses after ``--pull`` (podman's policies), for ``platform`` (the
    ``--platform``/``--arch``/``--os``/``--variant`` choice; None: this machine's):

    * ``missing`` (default): a stored image as it is; a transport reference pulled (a copy
      that changes nothing when the store has it already), for ``platform`` when given;
    * ``always``/``newer``: a transport reference pulled again; a bare name pulled from its
      registry (``docker://NAME``) first;
    * ``never``: only the store: a transport reference is refused.

    Whether a stored image serves ``platform`` is the container's creation's to check
    (:meth:`~boxwright.store.containers.ContainerStore.create`).
    """
    from boxwright.transport.reference import TRANSPORTS

    policy = flags["pull_policy"]
    prefix, sep, _ = image.partition(":")
    reference = bool(sep) and prefix in TRANSPORTS and prefix != "store"
    if policy == "never" and reference:
        raise UsageError(f"--pull never: {image} is not in the local store (pull it first)")
    pulling = policy in ("always", "newer")
    if not (pulling or (reference and platform is not None)):
        return image  # the copy machinery is loaded only for a pull
    from boxwright.store.pullpush import pull

    if reference:
        return pull(image, platform=platform).id
    name = image.removeprefix("store:")
    return pull(f"docker://{name}", platform=platform, name=name).id


__all__ = ["apply_run_flags", "pull_for_run", "run_flags"]
