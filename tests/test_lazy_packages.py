"""The lazily re-exporting packages (``boxwright.oci``, ``boxwright.layer``): every public name
resolves to its defining module's object, and importing one module loads none of the others."""

from __future__ import annotations

import importlib
import subprocess
import sys
from types import ModuleType

import pytest

import boxwright.layer
import boxwright.oci

PACKAGES = [boxwright.oci, boxwright.layer]


def _names() -> list[tuple[ModuleType, str]]:
    return [(package, name) for package in PACKAGES for name in package.__all__]


@pytest.mark.parametrize(("package", "name"), _names(), ids=lambda v: getattr(v, "__name__", v))
def test_every_public_name_is_the_defining_modules_object(package: ModuleType, name: str) -> None:
    value = getattr(package, name)
    if isinstance(value, ModuleType):
        assert value is importlib.import_module(f"{package.__name__}.{name}")
        return
    module = importlib.import_module(package._EXPORTS[name])
    assert value is getattr(module, name)
    assert name in dir(package)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_is_sorted_and_unknown_names_raise(package: ModuleType) -> None:
    assert package.__all__ == sorted(set(package.__all__))
    with pytest.raises(
        AttributeError, match=f"module '{package.__name__}' has no attribute 'nope'"
    ):
        _ = package.nope


def test_from_imports_of_package_names_still_work() -> None:
    from boxwright.layer import CompressingReader, apply_layer
    from boxwright.oci import AnyManifest, ImageConfig, mediatype

    assert apply_layer.__module__ == "boxwright.layer.apply"
    assert CompressingReader.__module__ == "boxwright.layer.compression"
    assert ImageConfig.__module__ == "boxwright.oci.config"
    assert mediatype.OCI_INDEX == "application/vnd.oci.image.index.v1+json"
    assert {t.__name__ for t in AnyManifest.__args__} == {
        "ImageManifest",
        "ImageIndex",
        "Schema1Manifest",
    }


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [
        (
            "boxwright.oci.digest",
            {"boxwright.oci.config", "boxwright.oci.index", "boxwright.oci.platform"},
        ),
        ("boxwright.oci.parse", {"boxwright.oci.config", "boxwright.oci.schema1"}),
        ("boxwright.layer.compression", {"boxwright.layer.apply", "boxwright.layer.generate"}),
    ],
)
def test_importing_one_module_loads_no_sibling(module: str, not_loaded: set[str]) -> None:
    probe = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert module in loaded
    assert not_loaded & loaded == set()
