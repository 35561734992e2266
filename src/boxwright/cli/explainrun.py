"""The work of ``explain`` (:mod:`boxwright.cli.explain` declares its flags): the report of
:func:`boxwright.explain.explain_image`, printed as text or JSON, and dive's CI gate.
Imported when the command runs, with the image reading and the layer walk it needs; rich's
tree only on a terminal."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import click

from boxwright.cli.output import human_size, render_mapping, render_table, short_name
from boxwright.cli.sanitize import echo, escape
from boxwright.explain import CiRules, evaluate, explain_image
from boxwright.explain.ci import parse_size

if TYPE_CHECKING:
    from boxwright.explain.model import ExplainReport, LayerFileReport, Waste
    from boxwright.oci.platform import Platform

#: How many entries of each change list ``--files`` prints per layer on a terminal/pipe.
MAX_LISTED = 50


@dataclass(frozen=True)
class CiFlags:
    """``--ci`` and its thresholds as click read them (the size still as text: a bad one is
    refused before the image is read, with or without ``--ci``)."""

    ci: bool
    lowest_efficiency: float
    highest_wasted_bytes: str | None
    highest_user_wasted_percent: float


def run_explain(
    reference: str, *, files: bool, fmt: str, platform: Platform | None, gate: CiFlags
) -> None:
    """Explain the image ``reference``: the report as JSON (``fmt`` ``json``) or text, then,
    with ``--ci``, each rule's outcome on stderr and exit status 1 when one fails."""
    wasted = gate.highest_wasted_bytes
    limit = parse_size(wasted) if wasted is not None else None
    report = explain_image(reference, files=files, platform=platform)
    if fmt == "json":
        click.echo(report.to_json())
    else:
        _render(report, sys.stdout)
    if gate.ci:
        rules = CiRules(
            lowest_efficiency=gate.lowest_efficiency or None,
            highest_wasted_bytes=limit,
            highest_user_wasted_percent=gate.highest_user_wasted_percent,
        )
        result = evaluate(report, rules)
        for name, outcome, detail in result.results:
            echo(f"{outcome}: {name}: {detail}", err=True)
        if result.failure is not None:
            echo(f"Error: CI gate failed: {result.failure}", err=True)
            raise click.exceptions.Exit(1)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _section(title: str, out: IO[str]) -> None:
    echo(file=out)
    echo(title, file=out)


def _render_path(report: ExplainReport, out: IO[str]) -> None:
    lines = [
        escape(
            f"{step.kind} {step.digest} {step.media_type} {human_size(step.size)}"
            + (f" [{step.platform}]" if step.platform else "")
        )
        for step in report.path
    ]
    root = escape(report.reference or "image")
    if _is_tty(out):
        from boxwright.cli.tables import print_path_tree

        steps = [
            (line, step.kind == "layer") for step, line in zip(report.path, lines, strict=True)
        ]
        print_path_tree(root, steps, out)
        return
    out.write(root + "\n")
    depth = 1
    for step, line in zip(report.path, lines, strict=True):
        out.write("  " * depth + line + "\n")
        if step.kind != "layer":
            depth += 1


def _json_list(value: tuple[str, ...] | None) -> str:
    return "" if value is None else json.dumps(list(value))


def _render(report: ExplainReport, out: IO[str]) -> None:
    """The text report: the path to the image, its history, waste, each layer's files (with
    ``--files``), its config and the totals."""
    _render_path(report, out)
    _render_history(report, out)
    _render_waste(report.waste, out)
    for layer in report.files or ():
        _render_layer_files(layer, out)
    _render_config(report, out)
    _render_total(report, out)


def _render_history(report: ExplainReport, out: IO[str]) -> None:
    """One row per history entry, with the layer it joined and that layer's sizes."""
    _section("History:", out)
    rows = []
    for row in report.history:
        joined = "-" if row.layer is None else str(row.layer)
        if row.empty_layer:
            joined = "(metadata)"
        rows.append(
            [
                "-" if row.history is None else row.history,
                joined,
                (row.created or "")[:19],
                "" if row.size is None else human_size(row.size),
                "" if row.uncompressed_size is None else human_size(row.uncompressed_size),
                "" if row.files is None else row.files,
                (row.instruction or "") + (f"  [{row.note}]" if row.note else ""),
            ]
        )
    render_table(
        ["step", "layer", "created", "size", "unpacked", "files", "created by"], rows, stream=out
    )
    if report.history_note:
        echo(f"Note: {report.history_note}", file=out)


def _render_waste(waste: Waste, out: IO[str]) -> None:
    """The wasted bytes and efficiency, then the paths written more than once."""
    _section("Waste:", out)
    render_mapping(
        {
            "wasted": f"{human_size(waste.wasted_bytes)} ({waste.wasted_bytes} bytes)",
            "efficiency": f"{waste.efficiency * 100:.2f} %",
            "user wasted": f"{waste.user_wasted_percent * 100:.2f} %",
        },
        stream=out,
    )
    if waste.offenders:
        render_table(
            ["wasted", "copies", "layers", "path"],
            [
                [human_size(o.wasted_bytes), o.copies, ",".join(map(str, o.layers)), "/" + o.path]
                for o in waste.offenders
            ],
            stream=out,
        )


def _render_layer_files(layer: LayerFileReport, out: IO[str]) -> None:
    """What one layer adds, changes, deletes and has shadowed later, the first
    ``MAX_LISTED`` of them."""
    _section(
        f"Layer {layer.layer}: {len(layer.added)} added, {len(layer.changed)} changed, "
        f"{len(layer.deleted)} deleted, {len(layer.shadowed)} shadowed later",
        out,
    )
    changes: list[tuple[str, str, int | str]] = [("A", "/" + e.path, e.size) for e in layer.added]
    changes += [("M", "/" + e.path, e.size) for e in layer.changed]
    changes += [("D", "/" + p, "") for p in layer.deleted]
    changes += [("W", "/" + p, "") for p in layer.whiteouts]
    changes += [("O", "/" + (p + "/" if p else ""), "") for p in layer.opaque_dirs]
    changes += [("S", f"/{s.path} ({s.how} by layer {s.by})", s.size) for s in layer.shadowed]
    shown = changes[:MAX_LISTED]
    render_table(["op", "path", "size"], [list(c) for c in shown], stream=out)
    if len(changes) > MAX_LISTED:
        echo(f"... {len(changes) - MAX_LISTED} more (see --format json)", file=out)


def _render_config(report: ExplainReport, out: IO[str]) -> None:
    """The platform and the config fields that decide how a container of the image runs."""
    _section("Config:", out)
    cfg = report.config
    render_mapping(
        {
            "platform": report.platform,
            "entrypoint": _json_list(cfg.entrypoint),
            "cmd": _json_list(cfg.cmd),
            "env": ", ".join(cfg.env),
            "user": cfg.user,
            "workdir": cfg.working_dir,
            "ports": ", ".join(cfg.exposed_ports),
            "labels": ", ".join(f"{k}={v}" for k, v in sorted(cfg.labels.items())),
        },
        stream=out,
    )


def _render_total(report: ExplainReport, out: IO[str]) -> None:
    """The closing line: layer count, sizes and the manifest's short digest."""
    echo(file=out)
    echo(
        f"Total: {len(report.layers)} layers, {human_size(report.size)} compressed, "
        f"{human_size(report.uncompressed_size)} uncompressed; manifest "
        f"{short_name(next((s.digest for s in report.path if s.kind == 'manifest'), ''))}",
        file=out,
    )


__all__ = ["CiFlags", "run_explain"]
