"""A pytest plugin (``-p tools.conformance.record``) writing each test's outcome to JSON.

The file is named by the ``CONFORMANCE_RESULTS`` environment variable. Each
test id maps to its outcome (``passed``, ``failed``, ``error``, ``skipped``,
``xfailed``, ``xpassed``), the first line of its failure, the fixtures it
requested, and the warning lines our callback logged while it ran (the reasons
documents were rejected).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

__all__ = ["outcome_of"]

_MESSAGE_LIMIT = 300
_NOTES_LIMIT = 5


class _Notes(logging.Handler):
    """Collects our callback's warning lines during one test."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < _NOTES_LIMIT:
            self.lines.append(record.getMessage()[:_MESSAGE_LIMIT])


_results: dict[str, dict[str, Any]] = {}
_notes = _Notes()


def outcome_of(report: pytest.TestReport) -> str | None:
    """The outcome a report gives its test, or ``None`` if it leaves it unchanged."""
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
        return str(report.outcome)
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return None


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    elif isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        text = str(report.longrepr[2])
    else:
        text = str(report.longrepr or "")
    lines = text.strip().splitlines()
    return lines[0][:_MESSAGE_LIMIT] if lines else ""


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("resonance_callback").addHandler(_notes)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _notes.lines = []
    _results[item.nodeid] = {"outcome": "error", "message": "did not finish",
                             "fixtures": sorted(getattr(item, "fixturenames", ())),
                             "notes": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _results.setdefault(report.nodeid, {"outcome": "error", "message": "",
                                                "fixtures": [], "notes": []})
    outcome = outcome_of(report)
    if report.when == "setup" and outcome is None:
        entry["outcome"], entry["message"] = "passed", ""  # until the call says otherwise
    if outcome is not None and not (report.when == "teardown" and entry["outcome"] != "passed"):
        entry["outcome"] = outcome
        entry["message"] = "" if outcome == "passed" else _first_line(report)
    entry["notes"] = list(_notes.lines)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _results[report.nodeid or "<collection>"] = {
            "outcome": "error", "message": f"collection failed: {report.longreprtext[-300:]}",
            "fixtures": [], "notes": []}


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("CONFORMANCE_RESULTS")
    if target:
        Path(target).write_text(json.dumps(_results, indent=1, sort_keys=True))
