"""The tables' line on the tools that were not measured, and why."""

from __future__ import annotations


def skipped_tools_line(missing: dict[str, str | None] | list[str]) -> str:
    """``Skipped: torchlens (not installed), torchview (does not import: RuntimeError: ...).``

    ``missing``: tool -> why (``tools.unavailable``); a list, from a run before the
    reasons were kept, gives "Not installed, skipped: ...".
    """
    if isinstance(missing, list):
        return "Not installed, skipped: " + ", ".join(missing) + "."
    return "Skipped: " + ", ".join(f"{tool} ({why})" for tool, why in missing.items()) + "."
