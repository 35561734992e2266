"""The version of boxwright, in a module of its own that every layer may import.

The root package re-exports it (``boxwright.__version__``) and the registry client puts it in
its ``User-Agent``; reading it from here costs nothing, where ``importlib.metadata`` costs a few
milliseconds of start-up. ``pyproject.toml`` holds the same number (a test checks they agree).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
