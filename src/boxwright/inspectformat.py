"""``inspect --format TEMPLATE``: the summary as the Go struct skopeo's template sees (typed
nils, times, layer data) and the template run over it by the one engine,
:mod:`boxwright.gotemplate`. :func:`boxwright.inspect.render_template` imports this module, so
an inspect without a template never loads the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boxwright.gotemplate import GoNil, GoStruct, GoTime, Template
from boxwright.gotemplate.report import normalize

_MAPS = frozenset({"Labels", "Annotations"})
_SLICES = frozenset({"Layers", "Env", "RepoTags", "LayersData"})
_OMITTED_WHEN_EMPTY = frozenset({"Name", "Variant"})


def render(
    data: dict[str, Any],
    template: str,
    *,
    escape: Callable[[str], str] | None = None,
    escape_json: Callable[[str], str] | None = None,
) -> str:
    """``template`` filled with the summary ``data`` (:meth:`InspectInfo.to_dict
    <boxwright.inspect.InspectInfo.to_dict>`), as :func:`boxwright.inspect.render_template`
    describes, ending with a newline."""
    text = normalize(template)
    out = Template(text, escape_html_json=True).execute(
        _template_data(data), escape=escape, escape_json=escape_json
    )
    return out if out.endswith("\n") else out + "\n"


def _template_data(data: dict[str, Any]) -> GoStruct:
    """The summary as the Go struct skopeo's template sees (typed nils, times, layer data)."""
    fields: dict[str, Any] = dict.fromkeys(sorted(_OMITTED_WHEN_EMPTY), "")
    for key, value in data.items():
        if value is None:
            kind = "map" if key in _MAPS else "slice" if key in _SLICES else "pointer"
            fields[key] = GoNil(kind)
        elif key == "Created":
            fields[key] = GoTime(value)
        elif key == "LayersData":
            fields[key] = [_layer_struct(layer) for layer in value]
        else:
            fields[key] = value

    def json_view() -> dict[str, Any]:
        view: dict[str, Any] = _sort_maps(data)
        if data.get("LayersData") is not None:
            view["LayersData"] = fields["LayersData"]  # structs: their fields in order
        return view

    return GoStruct(fields, json=json_view, type_name="inspect.Output")


def _layer_struct(layer: dict[str, Any]) -> GoStruct:
    fields = {k: (GoNil("map") if v is None and k in _MAPS else v) for k, v in layer.items()}
    return GoStruct(fields, json=lambda: _sort_maps(layer), type_name="types.ImageInspectLayer")


def _sort_maps(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        items = sorted(value.items()) if key in _MAPS else value.items()
        return {k: _sort_maps(v, k) for k, v in items}
    if isinstance(value, list):
        return [_sort_maps(v) for v in value]
    return value


__all__ = ["render"]
