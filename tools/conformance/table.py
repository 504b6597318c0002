"""The per-test table of both runs: rows, totals, Markdown and JSON."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from tools.conformance.suites import Suite, classify

__all__ = ["Row", "causes", "merge", "render_markdown", "to_json", "totals"]

# The backend parameter of databroker's broker fixtures: one name per run, "db" in the table.
_BACKEND = re.compile(r"(?<=[\[-])(sqlite-tiled|resonance)(?=[\]-])")
_CLASSES = ("client-visible", "writer-internal", "no-server")
# Uids, hex ids, paths and numbers vary from test to test; a cause is the rest of the line.
_VARYING = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27,}|[0-9a-f]{16,}|(?<![\w/])(/[\w.@-]+)+"
                      r"|\b\d+\.\d+\b|\b\d{5,}\b")
_CAUSE_LENGTH = 160


@dataclass(frozen=True)
class Row:
    """One test in both runs."""

    suite: str
    test: str
    tiledwriter: str
    ours: str
    cls: str
    reason: str
    message: str
    notes: tuple[str, ...]


def normalize(test_id: str) -> str:
    """The test id both runs share (the backend parameter id becomes ``db``)."""
    return _BACKEND.sub("db", test_id)


def merge(suite: Suite, reference: dict[str, Any], ours: dict[str, Any]) -> list[Row]:
    """Rows of one suite from the two runs' results (a test one run lacks: ``absent``)."""
    ref = {normalize(k): v for k, v in reference.items()}
    our = {normalize(k): v for k, v in ours.items()}
    rows = []
    for test in sorted(set(ref) | set(our)):
        r, o = ref.get(test), our.get(test)
        fixtures = (r or o or {}).get("fixtures") or None
        cls, reason = classify(suite, test, fixtures)
        failed = o is not None and o["outcome"] not in ("passed", "xfailed", "skipped")
        rows.append(Row(
            suite=suite.slug, test=test,
            tiledwriter=r["outcome"] if r else "absent",
            ours=o["outcome"] if o else "absent",
            cls=cls, reason=reason,
            message=o["message"] if failed and o else "",
            notes=tuple(o.get("notes", ())) if failed and o else (),
        ))
    return rows


def totals(rows: list[Row]) -> dict[str, dict[str, dict[str, int]]]:
    """``{class: {"tiledwriter"|"ours"|"tests": counts}}`` plus an ``all`` class."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for cls in (*_CLASSES, "all"):
        chosen = [r for r in rows if cls in ("all", r.cls)]
        if not chosen:
            continue
        out[cls] = {
            "tests": {"count": len(chosen)},
            "tiledwriter": dict(Counter(r.tiledwriter for r in chosen)),
            "ours": dict(Counter(r.ours for r in chosen)),
            "both_pass": {"count": sum(r.tiledwriter == r.ours == "passed" for r in chosen)},
        }
    return out


def cause_of(row: Row) -> str:
    """A failure's first line with what varies between tests (uids, paths, numbers) masked."""
    return _VARYING.sub("…", row.message)[:_CAUSE_LENGTH] or f"({row.ours}, no message)"


def causes(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """Client-visible tests that pass against TiledWriter but not against us, by cause.

    Most frequent cause first.
    """
    groups: dict[str, list[Row]] = {}
    for row in rows:
        if (row.cls == "client-visible" and row.tiledwriter == "passed"
                and row.ours not in ("passed", "absent")):
            groups.setdefault(cause_of(row), []).append(row)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _mark(outcome: str) -> str:
    return {"passed": "pass", "failed": "**FAIL**", "error": "**ERROR**"}.get(outcome, outcome)


def render_markdown(suites: list[tuple[Suite, list[Row]]], *, header: str) -> str:
    """The Markdown page: ``header``, totals per suite and class, then every test."""
    lines = [header.rstrip(), "", "## Totals", "",
             "| suite | class | tests | pass against TiledWriter | pass against us |"
             " pass in both |",
             "|---|---|---:|---:|---:|---:|"]
    for suite, rows in suites:
        for cls, t in totals(rows).items():
            lines.append(f"| {suite.slug} | {cls} | {t['tests']['count']} | "
                         f"{t['tiledwriter'].get('passed', 0)} | {t['ours'].get('passed', 0)} |"
                         f" {t['both_pass']['count']} |")
    for suite, rows in suites:
        grouped = causes(rows)
        lines += ["", f"## {suite.slug}: client-visible failures against us, by first line",
                  ""]
        if not grouped:
            lines.append("None: every client-visible test that passes against TiledWriter"
                         " passes against us.")
        for cause, members in grouped:
            names = sorted({m.test.split("::")[-1].split("[")[0] for m in members})
            lines.append(f"- {len(members)} × `{_cell(cause)}` ({', '.join(names)})")
    for suite, rows in suites:
        lines += ["", f"## {suite.slug}", "",
                  "| test | TiledWriter | ours | class | why (first line of the failure"
                  " against us; our callback's warnings) |",
                  "|---|---|---|---|---|"]
        for r in rows:
            why = r.message or r.reason
            if r.notes:
                why += " — callback: " + "; ".join(r.notes)
            lines.append(f"| `{_cell(r.test)}` | {_mark(r.tiledwriter)} | {_mark(r.ours)} |"
                         f" {r.cls} | {_cell(why)} |")
    return "\n".join(lines) + "\n"


def to_json(suites: list[tuple[Suite, list[Row]]], *, meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document beside the Markdown: ``meta``, totals and rows per suite."""
    return {
        **meta,
        "suites": {
            suite.slug: {"totals": totals(rows), "tests": [asdict(r) for r in rows]}
            for suite, rows in suites
        },
    }
