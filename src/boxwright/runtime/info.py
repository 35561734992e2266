"""What ``boxwright info`` reports, as ``podman info`` does: host, ID maps, runtimes, store.

:func:`system_info` gathers it without creating a store or joining a namespace: the mode is
the store's recorded one (or the one a new store would get), the ID maps are the ones that
mode uses (ranges: podman's full mapping from ``/etc/subuid``/``/etc/subgid``; single: the
user's one ID; root: none), and the driver is the one a new container would get. Field names
follow podman's ``info`` (``host.idMappings``, ``store.graphRoot``...), so
``--format '{{.Store.GraphRoot}}'`` reads the same.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from boxwright._version import __version__
from boxwright.config.paths import is_rootless, runtime_dir, store_root
from boxwright.rootless.namespace import choose_mode, requested_mode
from boxwright.rootless.ranges import IDMapping, single_mapping
from boxwright.runtime.emulation import emulation_report
from boxwright.runtime.ocirunner import CANDIDATES

RUNTIMES = ("native", *CANDIDATES)


def _id_maps(mapping: IDMapping | None) -> dict[str, list[dict[str, int]]] | None:
    if mapping is None:
        return None
    return {
        "uidmap": [
            {"container_id": r.container_id, "host_id": r.host_id, "size": r.size}
            for r in mapping.uids
        ],
        "gidmap": [
            {"container_id": r.container_id, "host_id": r.host_id, "size": r.size}
            for r in mapping.gids
        ],
    }


def _driver(root: Path) -> str:
    """The driver of a new container: ``$BOXWRIGHT_DRIVER``, else the store's cached probe."""
    chosen = os.environ.get("BOXWRIGHT_DRIVER")
    if chosen:
        return chosen
    try:
        doc = json.loads((root / "overlay-probe.json").read_text())
        return "overlay" if doc.get("overlay") else "copy"
    except (OSError, ValueError, AttributeError):
        return "overlay (not probed yet)"


def _count(path: Path, key: str) -> int:
    try:
        doc = json.loads(path.read_text())
        return len(doc.get(key) or [])
    except (OSError, ValueError, AttributeError):
        return 0


def system_info(root: Path | str | None = None) -> dict[str, Any]:
    """podman info's shape for boxwright: ``host``, ``store`` and ``version`` (JSON-ready)."""
    where = Path(root or store_root()).absolute()
    mode = choose_mode(where, requested_mode())
    if mode.mode == "ranges":
        mapping = mode.mapping
    elif mode.mode == "single":
        mapping = single_mapping()
    else:
        mapping = None
    runtimes: dict[str, dict[str, str]] = {"native": {"path": "builtin"}}
    for name in RUNTIMES[1:]:
        path = shutil.which(name)
        if path is not None:
            runtimes[name] = {"path": path}
    return {
        "host": {
            "arch": platform.machine(),
            "kernel": platform.release(),
            "os": "linux",
            "hostname": platform.node(),
            "idMappings": _id_maps(mapping),
            "ociRuntimes": runtimes,
            "security": {"rootless": is_rootless(), "usernsMode": mode.mode},
            "emulation": emulation_report(),
        },
        "store": {
            "graphRoot": str(where),
            "runRoot": str(runtime_dir()),
            "graphDriverName": _driver(where),
            "usernsMode": mode.mode,
            "exists": (where / "boxwright-store").is_file(),
            "imageStore": {"number": _count(where / "images.json", "images")},
            "containerStore": {"number": _count(where / "containers.json", "containers")},
        },
        "version": {"version": __version__},
    }


__all__ = ["RUNTIMES", "system_info"]
