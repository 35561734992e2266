"""Man pages (roff, section 1) made from the click commands themselves: ``boxwright(1)`` and
one page per command, ``boxwright-copy(1)``, ``boxwright-container-from(1)``, ...

``scripts/make-man-pages`` writes them into ``docs/man/``; ``tests/cli/test_manpages.py``
checks that the committed pages are what the commands say now. A page holds the command's
help text, its synopsis, every option with its help (and default where click shows one), the
examples of its epilog, and the related pages; nothing that changes from run to run (no date,
no version), so the same commands always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from boxwright.cli.main import main as root_command

TITLE = "boxwright manual"
PEERS = ("podman", "buildah", "skopeo", "umoci")
"""The tools whose commands and flags boxwright's follow, named on every page."""


def escape(text: str) -> str:
    """``text`` as roff text: backslashes and hyphens escaped, no line taken for a request."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in out.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _paragraphs(text: str) -> Iterator[tuple[bool, str]]:
    """The paragraphs of a click help text: (verbatim, text); ``\\b`` marks a verbatim one."""
    for block in text.strip("\n").split("\n\n"):
        if not block.strip():
            continue
        if block.lstrip("\n").startswith("\b"):
            yield True, block.lstrip("\n")[1:].strip("\n")
        else:
            yield False, " ".join(line.strip() for line in block.splitlines())


def _text(text: str) -> list[str]:
    lines: list[str] = []
    for verbatim, paragraph in _paragraphs(text):
        if verbatim:
            lines += [".PP", ".nf", escape(paragraph), ".fi"]
        else:
            lines += [".PP", escape(paragraph)]
    return lines


def commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[list[str], click.Command]]:
    """Every command under ``group``, depth first in name order, with its path of names."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        yield [name], command
        if isinstance(command, click.Group):
            sub = click.Context(command, info_name=name, parent=ctx)
            for path, inner in commands(command, sub):
                yield [name, *path], inner


def page_name(path: list[str]) -> str:
    """``boxwright-container-from`` for ``["container", "from"]``; ``boxwright`` for ``[]``."""
    return "-".join(["boxwright", *path])


def render(path: list[str], command: click.Command, ctx: click.Context) -> str:
    """The man page of ``command`` (at ``path`` below ``boxwright``)."""
    name = page_name(path)
    short = command.get_short_help_str(limit=200).rstrip(".")
    lines = [
        f'.TH "{name.upper()}" "1" "" "boxwright" "{TITLE}"',
        ".SH NAME",
        f"{escape(name)} \\- {escape(short)}",
        ".SH SYNOPSIS",
        f".B {escape(' '.join(['boxwright', *path]))}",
        escape(" ".join(command.collect_usage_pieces(ctx))),
        ".SH DESCRIPTION",
        *_text(command.help or short),
    ]
    options = [p for p in command.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]
    if options:
        lines.append(".SH OPTIONS")
        for option in options:
            record = option.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            lines += [".TP", f"\\fB{escape(names)}\\fR", escape(help_text)]
    if isinstance(command, click.Group):
        lines.append(".SH COMMANDS")
        for sub_path, sub in commands(command, ctx):
            if len(sub_path) != 1:
                continue
            lines += [
                ".TP",
                f"\\fB{escape(page_name([*path, *sub_path]))}\\fR(1)",
                escape(sub.get_short_help_str(limit=200)),
            ]
    if command.epilog:
        lines.append(".SH EXAMPLES")
        lines += _text(command.epilog)
    see = [f"\\fB{escape(page_name(path[:-1]))}\\fR(1)"] if path else []
    see += [f"{peer}(1)" for peer in PEERS]
    lines += [".SH SEE ALSO", ", ".join(see)]
    return "\n".join(lines) + "\n"


def render_all(root: click.Group | None = None) -> dict[str, str]:
    """Every page: file name (``boxwright-copy.1``) → roff text."""
    if root is None:
        root = root_command
    ctx = click.Context(root, info_name="boxwright")
    pages = {"boxwright.1": render([], root, ctx)}
    for path, command in commands(root, ctx):
        sub = click.Context(command, info_name=path[-1], parent=ctx)
        pages[f"{page_name(path)}.1"] = render(path, command, sub)
    return pages


__all__ = ["commands", "escape", "page_name", "render", "render_all"]
