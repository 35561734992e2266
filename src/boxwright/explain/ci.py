"""The ``--ci`` gate, as dive's: fail when an image wastes more than the thresholds allow.

dive's rules and defaults: ``lowestEfficiency`` 0.9 (fail below it), ``highestWastedBytes``
disabled (fail above it), ``highestUserWastedPercent`` 0.1 (fail above it: wasted bytes
over the size of every layer but the base). :func:`evaluate` applies them to a report and
returns the first failure as one line, or None when the image passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from boxwright.errors import UsageError
from boxwright.explain.model import ExplainReport

DEFAULT_LOWEST_EFFICIENCY = 0.9
DEFAULT_HIGHEST_USER_WASTED_PERCENT = 0.1


@dataclass(frozen=True, slots=True)
class CiRules:
    """Thresholds; ``None`` disables a rule (dive's ``disabled``)."""

    lowest_efficiency: float | None = DEFAULT_LOWEST_EFFICIENCY
    highest_wasted_bytes: int | None = None
    highest_user_wasted_percent: float | None = DEFAULT_HIGHEST_USER_WASTED_PERCENT


@dataclass(frozen=True, slots=True)
class CiResult:
    """Each rule's outcome, ``(name, "PASS" | "FAIL" | "SKIP", detail)``, and the first
    failure's one-line reason (``None`` when every rule passed or was skipped)."""

    results: tuple[tuple[str, str, str], ...]
    failure: str | None

    @property
    def passed(self) -> bool:
        return self.failure is None


def evaluate(report: ExplainReport, rules: CiRules | None = None) -> CiResult:
    """Apply ``rules`` (default: dive's defaults) to ``report``."""
    rules = rules or CiRules()
    waste = report.waste
    results: list[tuple[str, str, str]] = []
    failures: list[str] = []

    if rules.lowest_efficiency is None:
        results.append(("lowestEfficiency", "SKIP", "rule disabled"))
    elif waste.efficiency < rules.lowest_efficiency:
        why = f"efficiency {waste.efficiency:.4f} is below {rules.lowest_efficiency:g}"
        results.append(("lowestEfficiency", "FAIL", why))
        failures.append(why)
    else:
        results.append(("lowestEfficiency", "PASS", f"efficiency {waste.efficiency:.4f}"))

    if rules.highest_wasted_bytes is None:
        results.append(("highestWastedBytes", "SKIP", "rule disabled"))
    elif waste.wasted_bytes > rules.highest_wasted_bytes:
        why = f"wasted bytes {waste.wasted_bytes} exceed {rules.highest_wasted_bytes}"
        results.append(("highestWastedBytes", "FAIL", why))
        failures.append(why)
    else:
        results.append(("highestWastedBytes", "PASS", f"wasted bytes {waste.wasted_bytes}"))

    pct = waste.user_wasted_percent
    if rules.highest_user_wasted_percent is None:
        results.append(("highestUserWastedPercent", "SKIP", "rule disabled"))
    elif pct > rules.highest_user_wasted_percent:
        why = f"user wasted percent {pct:.4f} exceeds {rules.highest_user_wasted_percent:g}"
        results.append(("highestUserWastedPercent", "FAIL", why))
        failures.append(why)
    else:
        results.append(("highestUserWastedPercent", "PASS", f"user wasted percent {pct:.4f}"))
    failure = "; ".join(failures) if failures else None
    return CiResult(tuple(results), failure)


def parse_size(text: str) -> int:
    """A byte count as dive accepts it: ``20MB``, ``1.5 GB``, ``512KiB``, ``1000``."""
    units = {
        "": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
        "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
        "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
    }  # fmt: skip
    cleaned = text.strip().lower().replace(" ", "")
    number = cleaned.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = cleaned[len(number) :]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in units or value < 0:
        raise UsageError(f"invalid size {text!r}: use a number of bytes, or e.g. 20MB, 512KiB")
    return int(value * units[unit])


__all__ = [
    "DEFAULT_HIGHEST_USER_WASTED_PERCENT",
    "DEFAULT_LOWEST_EFFICIENCY",
    "CiResult",
    "CiRules",
    "evaluate",
    "parse_size",
]
