"""Containers that keep running, as podman's top-level verbs: ``ps``, ``logs``, ``stop``,
``kill``, ``start``, ``restart``, ``wait``, ``rm``, ``attach``, ``exec``.

Each is a thin shell over :class:`boxwright.runtime.lifecycle.Container`. They act on the
containers ``boxwright run`` made; the ``container`` group keeps buildah's verbs on working
containers (both are records of the same store: see ``docs/cli.md``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.main import exit_with
from boxwright.errors import UsageError
from boxwright.runtime.ports import describe_ports, ps_ports
from boxwright.runtime.state import CREATED, RUNNING, parse_time

if TYPE_CHECKING:
    from boxwright.runtime.lifecycle import Container


def _container(name: str) -> Container:
    from boxwright.runtime.lifecycle import Container

    return Container(name)


def _ago(stamp: str, now: datetime) -> str:
    """podman's human durations: ``5 seconds``, ``3 minutes``, ``2 hours``, ``4 days``."""
    seconds = max(0, int((now - parse_time(stamp)).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def status_text(container: Container, now: datetime) -> str:
    """The STATUS column: ``Up 5 seconds``, ``Exited (0) 3 seconds ago``, ``Created``."""
    state = container.state()
    if state.status == RUNNING:
        return f"Up {_ago(state.started_at, now)}"
    if state.status == CREATED or not state.finished_at:
        return "Created"
    return f"Exited ({state.exit_code}) {_ago(state.finished_at, now)} ago"


@click.command(
    "ps",
    epilog="\b\nExamples:\n  boxwright ps\n  boxwright ps -a --format json",
)
@click.option("-a", "--all", "show_all", is_flag=True, help="Also containers that do not run.")
@click.option("-q", "--quiet", is_flag=True, help="Print container IDs only.")
@click.option("--no-trunc", is_flag=True, help="Print full IDs and commands.")
@click.option(
    "--format",
    "fmt",
    default=None,
    metavar="json|TEMPLATE",
    help="json, or a Go template ('table ...' for columns), as podman ps takes it.",
)
@click.option("--noheading", is_flag=True, help="Print no header line.")
def ps_command(
    show_all: bool, quiet: bool, no_trunc: bool, fmt: str | None, noheading: bool
) -> None:
    """List the containers that run (with -a, all made by `boxwright run`)."""
    from boxwright.cli.output import emit_json
    from boxwright.cli.rows import render_rows  # the template engine: only ps prints rows
    from boxwright.runtime.lifecycle import Container

    now = datetime.now(UTC)
    shown = [c for c in Container.list() if show_all or c.is_running()]
    if quiet:
        for c in shown:
            click.echo(c.id if no_trunc else c.id[:12])
        return
    if fmt == "json":
        emit_json(
            [
                {**c.inspect(), "Status": status_text(c, now), "Ports": ps_ports(c.ports())}
                for c in shown
            ]
        )
        return
    rows = [_ps_row(c, now, no_trunc) for c in shown]
    render_rows(fmt if fmt and fmt.strip() != "table" else PS_FORMAT, rows, PS_HEADERS, noheading)


#: podman ps's default columns, and the header each field gets.
PS_FORMAT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t"
    "{{.Names}}"
)
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedHuman": "CREATED",
    "CreatedAt": "CREATED AT",
    "Status": "STATUS",
    "State": "STATE",
    "Ports": "PORTS",
    "Names": "NAMES",
}


def _ps_row(container: Container, now: datetime, no_trunc: bool) -> Any:
    """A container as podman's ps report names its fields."""
    from boxwright.gotemplate import GoStruct

    options = container.config.options
    command = " ".join((*(options.entrypoint or ()), *options.args))
    if not no_trunc and len(command) > 20:
        command = command[:17] + "..."
    return GoStruct(
        {
            "ID": container.id if no_trunc else container.id[:12],
            "Image": container.record.image_name or "",
            "Command": command,
            "CreatedHuman": _ago(container.record.created, now) + " ago",
            "CreatedAt": str(container.record.created),
            "Status": status_text(container, now),
            "State": container.state().status,
            "Ports": describe_ports(container.ports()),
            "Names": container.name,
        },
        type_name="entities.ListContainer",
    )


def _since(text: str | None) -> datetime | None:
    """``--since``: an RFC 3339 time, or a duration before now (``10s``, ``5m``, ``2h``)."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        return parse_time(text if text.endswith("Z") else text + "Z")
    except ValueError:
        raise click.BadParameter(
            "expected an RFC 3339 time or a duration (10s, 5m, 2h)", param_hint="--since"
        ) from None


@click.command(
    "logs",
    epilog="\b\nExamples:\n  boxwright logs web\n  boxwright logs -f --tail 10 web",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing what it writes until it exits.")
@click.option("--since", default=None, help="Only from this time (RFC 3339, or 10s, 5m, 2h ago).")
@click.option("--tail", type=int, default=None, help="Only the last N lines.")
@click.option("-t", "--timestamps", is_flag=True, help="Show each line's time.")
@click.argument("container")
def logs_command(
    follow: bool, since: str | None, tail: int | None, timestamps: bool, container: str
) -> None:
    """Print CONTAINER's output: its stdout on stdout, its stderr on stderr."""
    c = _container(container)
    streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for record in c.logs(follow=follow, since=_since(since), tail=tail):
        stream = streams[record.stream]
        if timestamps:
            stream.write(record.time.encode() + b" ")
        stream.write(record.data)
        stream.flush()


def _each(names: tuple[str, ...], action: Any) -> None:
    """Apply ``action`` to each container and print its name, as podman does."""
    for name in names:
        action(_container(name))
        click.echo(name)


@click.command("stop", epilog="\b\nExample:\n  boxwright stop -t 5 web")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds before SIGKILL.")
@click.argument("containers", nargs=-1, required=True)
def stop_command(timeout: int | None, containers: tuple[str, ...]) -> None:
    """Stop containers: the image's StopSignal (else SIGTERM), then SIGKILL after -t SECS
    (default 10)."""
    _each(containers, lambda c: c.stop(timeout))


@click.command("kill", epilog="\b\nExample:\n  boxwright kill -s HUP web")
@click.option("-s", "--signal", "signum", default="SIGKILL", help="The signal (name or number).")
@click.argument("containers", nargs=-1, required=True)
def kill_command(signum: str, containers: tuple[str, ...]) -> None:
    """Send a signal (default SIGKILL) to containers' main process."""
    _each(containers, lambda c: c.kill(signum))


@click.command(
    "start",
    epilog="\b\nExamples:\n  boxwright start web\n  boxwright start -ai shell",
)
@click.option("-a", "--attach", is_flag=True, help="Attach its output; exit with its code.")
@click.option("-i", "--interactive", is_flag=True, help="Attach stdin too (with -a).")
@click.option(
    "--detach-keys", default=None, metavar="KEYS", help="Keys that detach (default ctrl-p,ctrl-q)."
)
@click.argument("containers", nargs=-1, required=True)
def start_command(
    attach: bool, interactive: bool, detach_keys: str | None, containers: tuple[str, ...]
) -> None:
    """Start containers that exited (or were created), under their monitor."""
    if not attach:
        if interactive:
            raise click.UsageError("-i needs -a")
        _each(containers, lambda c: c.start())
        return
    if len(containers) != 1:
        raise click.UsageError("start -a takes one container")
    c = _container(containers[0])
    stdin = sys.stdin.fileno() if interactive else None
    # a running container is attached to, as podman's start -a does
    exit_with(lambda: _attached(c.attach if c.is_running() else c.run_attached, stdin, detach_keys))


def _attached(relay: Any, stdin: int | None, detach_keys: str | None) -> int:
    """Relay through ``relay`` (run_attached or attach); 0 when detached, as podman."""
    from boxwright.runtime.attach import DEFAULT_DETACH_KEYS

    keys = DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys
    code = relay(stdin=stdin, detach_keys=keys)
    return 0 if code is None else int(code)


@click.command(
    "attach",
    epilog="\b\nExamples:\n  boxwright attach web\n  boxwright attach --detach-keys ctrl-x web",
)
@click.option(
    "--detach-keys", default=None, metavar="KEYS", help="Keys that detach (default ctrl-p,ctrl-q)."
)
@click.option("--no-stdin", is_flag=True, help="Do not attach stdin.")
@click.argument("container")
def attach_command(detach_keys: str | None, no_stdin: bool, container: str) -> None:
    """Attach this terminal to a running container's stdin, output and terminal; the detach
    keys leave it running. Exits with its exit code when it ends."""
    c = _container(container)
    stdin = None if no_stdin else sys.stdin.fileno()
    exit_with(lambda: _attached(c.attach, stdin, detach_keys))


@click.command("port", epilog="\b\nExamples:\n  boxwright port web\n  boxwright port web 8000/tcp")
@click.argument("container")
@click.argument("private_port", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
def port_command(container: str, private_port: str | None) -> None:
    """List CONTAINER's published ports, or the host address of one (as podman port):
    `8000/tcp -> 0.0.0.0:41234`, or `0.0.0.0:41234`. A container that does not run has
    none."""
    c = _container(container)
    running = c.is_running()
    ports = c.ports() if running else ()
    if private_port is None:
        for p in ports:
            click.echo(f"{p.container_port}/{p.protocol} -> {p.host_ip or '0.0.0.0'}:{p.host_port}")
        return
    number, _, protocol = private_port.partition("/")
    protocol = protocol or "tcp"
    if not number.isdigit() or protocol not in ("tcp", "udp"):
        raise UsageError(f"invalid port {private_port!r}: expected PORT[/tcp|udp]")
    for p in ports:
        if (p.container_port, p.protocol) == (int(number), protocol):
            click.echo(f"{p.host_ip or '0.0.0.0'}:{p.host_port}")
            return
    if running:
        raise UsageError(f'failed to find published port "{int(number)}/{protocol}"')


@click.command("restart", epilog="\b\nExample:\n  boxwright restart web")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds before SIGKILL.")
@click.argument("containers", nargs=-1, required=True)
def restart_command(timeout: int | None, containers: tuple[str, ...]) -> None:
    """Stop containers (as `stop`) and start them again."""
    _each(containers, lambda c: c.restart(timeout))


@click.command("wait", epilog="\b\nExample:\n  boxwright wait web")
@click.argument("containers", nargs=-1, required=True)
def wait_command(containers: tuple[str, ...]) -> None:
    """Wait for containers to exit; print each one's exit code."""
    for name in containers:
        click.echo(str(_container(name).wait()))


@click.command("rm", epilog="\b\nExample:\n  boxwright rm -f web")
@click.option("-f", "--force", is_flag=True, help="Kill a running container first.")
@click.argument("containers", nargs=-1, required=True)
def rm_command(force: bool, containers: tuple[str, ...]) -> None:
    """Remove containers made by `boxwright run` (running ones only with -f)."""
    _each(containers, lambda c: c.remove(force=force))


@click.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
    epilog="\b\nExamples:\n  boxwright exec web cat /etc/hostname\n"
    "  boxwright exec -it -u alice -w /tmp -e MODE=debug web sh",
)
@click.option("-i", "--interactive", is_flag=True, help="Pass stdin to the process.")
@click.option("-t", "--tty", is_flag=True, help="Give the process a terminal of its own.")
@click.option("-e", "--env", multiple=True, metavar="K=V", help="Set an environment variable.")
@click.option("-u", "--user", default=None, metavar="USER[:GROUP]", help="Run as this user.")
@click.option("-w", "--workdir", default=None, help="Working directory inside.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(
    interactive: bool,
    tty: bool,
    env: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    container: str,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND in running CONTAINER's namespaces; exit with its exit code."""
    c = _container(container)
    stdin = sys.stdin.fileno() if interactive else None
    exit_with(
        lambda: c.exec(command, env=env, user=user, workdir=workdir, terminal=tty, stdin=stdin)
    )


__all__ = [
    "attach_command",
    "exec_command",
    "kill_command",
    "logs_command",
    "port_command",
    "ps_command",
    "restart_command",
    "rm_command",
    "start_command",
    "status_text",
    "stop_command",
    "wait_command",
]
