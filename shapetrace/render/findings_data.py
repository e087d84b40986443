"""Findings as data for CI: a JSON list, GitHub Actions annotations, SARIF 2.1.0.

Paths are relative to the current folder where the file lies under it (what
GitHub and code-scanning tools resolve against the checkout), else absolute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from shapetrace._version import __version__
from shapetrace.core.finding import Finding

_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _path(filename: str) -> str:
    absolute = os.path.abspath(filename)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative.replace(os.sep, "/")


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding as plain data: ``code``, ``name``, ``severity``, ``message``,
    ``hint``, ``call_id`` and ``location`` (``file``, ``line``, ``code``) or None."""
    location = finding.location
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity,
        "message": finding.message,
        "hint": finding.hint,
        "call_id": finding.call_id,
        "location": None
        if location is None
        else {"file": _path(location.filename), "line": location.lineno, "code": location.code},
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(findings: Sequence[Finding]) -> str:
    """One workflow command per finding (``::error file=...,line=...,title=...::message``),
    which GitHub Actions shows on the pull request's lines."""
    lines = []
    for finding in findings:
        properties = []
        if finding.location is not None:
            properties += [
                f"file={_escape_property(_path(finding.location.filename))}",
                f"line={finding.location.lineno}",
            ]
        properties.append(f"title={_escape_property(f'{finding.code} {finding.name}')}")
        message = finding.message + (f"\nhelp: {finding.hint}" if finding.hint else "")
        lines.append(
            f"::{_GITHUB_LEVEL.get(finding.severity, 'warning')} {','.join(properties)}::{_escape_data(message)}"
        )
    return "\n".join(lines)


def sarif_log(findings: Sequence[Finding]) -> str:
    """A SARIF 2.1.0 log with one run: a rule per code seen, a result per finding."""
    from shapetrace.analyze.checks import load_detectors

    catalogue = load_detectors()
    codes = sorted({finding.code for finding in findings})
    rules = [
        {
            "id": code,
            "name": catalogue[code].name if code in catalogue else code,
            "shortDescription": {"text": catalogue[code].summary if code in catalogue else code},
            "help": {"text": f"shapetrace explain {code}"},
            "defaultConfiguration": {
                "level": _SARIF_LEVEL.get(catalogue[code].severity, "warning") if code in catalogue else "warning"
            },
        }
        for code in codes
    ]
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": codes.index(finding.code),
            "level": _SARIF_LEVEL.get(finding.severity, "warning"),
            "message": {"text": finding.message + (f" help: {finding.hint}" if finding.hint else "")},
        }
        if finding.location is not None:
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _path(finding.location.filename)},
                        "region": {"startLine": finding.location.lineno},
                    }
                }
            ]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {"tool": {"driver": {"name": "shapetrace", "version": __version__, "rules": rules}}, "results": results}
        ],
    }
    return json.dumps(log, indent=1)
