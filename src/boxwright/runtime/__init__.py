"""Running a process in a rootfs: OCI runtime spec generation and two runners.

:func:`run_in_rootfs` generates the spec from an image config and :class:`RunOptions` and
runs it with the ``native`` runner (Linux namespaces made by boxwright, root or rootless) or
the ``oci`` runner (``runc``/``crun``). See ``docs/runtime.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "DEFAULT_CAPABILITIES",
    "Container",
    "IDMapping",
    "IDRange",
    "ImageRun",
    "Mount",
    "NativeRunner",
    "OCIRunner",
    "RunOptions",
    "Runner",
    "default_mapping",
    "find_oci_runtime",
    "generate_spec",
    "get_runner",
    "rootless_mapping",
    "run_image",
    "run_in_container",
    "run_in_rootfs",
    "single_id_run",
]

if TYPE_CHECKING:
    from boxwright.runtime.container import ImageRun, run_image, run_in_container
    from boxwright.runtime.idmap import (
        IDMapping,
        IDRange,
        default_mapping,
        rootless_mapping,
        single_id_run,
    )
    from boxwright.runtime.lifecycle import Container
    from boxwright.runtime.native import NativeRunner
    from boxwright.runtime.ocirunner import OCIRunner, find_oci_runtime
    from boxwright.runtime.options import Mount, RunOptions
    from boxwright.runtime.runner import Runner, get_runner, run_in_rootfs
    from boxwright.runtime.spec import DEFAULT_CAPABILITIES, generate_spec

__getattr__, __dir__ = lazy_package(globals())
