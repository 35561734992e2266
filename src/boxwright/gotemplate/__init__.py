"""Go's ``text/template``, the language of every ``--format`` (podman, skopeo, docker).

One engine for the whole command line: :class:`Template` parses a template (``{{.Field}}``,
``{{json .}}``, ``{{range}}``, ``{{if}}``/``{{else}}``, ``{{with}}``, variables, pipelines,
Go's built-in functions and podman's ``json``, ``lower``, ``upper``, ``title``, ``join``,
``split``, ``pad``, ``truncate``) and executes it on plain data (see :mod:`.values` for how
Python values stand for Go's). :mod:`.report` adds podman's ``table`` formats: headers and
columns aligned as Go's ``tabwriter`` aligns them. Pure: no I/O, nothing printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

__all__ = [
    "MISSING",
    "GoNil",
    "GoStruct",
    "GoTime",
    "Template",
    "TemplateError",
    "go_print",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.gotemplate.execute import Template
    from boxwright.gotemplate.lex import TemplateError
    from boxwright.gotemplate.values import MISSING, GoNil, GoStruct, GoTime, go_print
