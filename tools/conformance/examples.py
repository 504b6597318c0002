"""bluesky-tiled-plugins' example documents written by TiledWriter and by us: ``read()`` compared.

``python -m tools.conformance.examples [--cache DIR]`` takes the example
document sets of the pinned bluesky-tiled-plugins sdist (``tests/examples/*.json``,
fetched into the cache as ``python -m tools.conformance`` does) and prepares them
as upstream's tests do: the detector files are made by upstream's own
``external_assets_folder`` fixture (its conftest, called once) and each set is
rendered into that folder by upstream's ``render_templated_documents``. The same
rendered documents (a deep copy each) go once to ``TiledWriter`` into Tiled's
own SQL catalog and once to our ``RunWriterCallback`` served by our app
(:class:`~tools.conformance.served.ServedBeamtime`). Then, through the same
Tiled client library, every stream of every run is read with
``run[stream].read()`` on both and compared per variable
(:func:`tools.conformance.compare.compare_datasets`); the table goes to
``docs/conformance-examples.md``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import importlib.util
import logging
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

from tools.conformance.compare import compare_datasets
from tools.conformance.example_reasons import REASONS
from tools.conformance.run import REPO, ConformanceError, fetch
from tools.conformance.served import ServedBeamtime
from tools.conformance.suites import SUITES

__all__ = ["Row", "compare_examples", "main"]

SUITE = next(s for s in SUITES if s.name == "bluesky-tiled-plugins")


@dataclass(frozen=True)
class Row:
    """One variable (or a whole stream, ``variable == ""``) of one run of one example."""

    example: str
    run: str
    stream: str
    variable: str
    status: str  # "equal", "differs" or "both raise"
    what: tuple[str, ...]
    detail: str


class _Factory:
    """What upstream's ``external_assets_folder`` fixture asks of ``tmp_path_factory``."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def mktemp(self, name: str) -> Path:
        path = self.base / name
        path.mkdir(parents=True)
        return path


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConformanceError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _upstream_assets(tests: Path, base: Path) -> str:
    """Upstream's detector files, made by its own conftest fixture; returns their folder."""
    conftest = _load(tests / "conftest.py", "_btp_upstream_conftest")
    fixture = conftest.external_assets_folder
    function = getattr(fixture, "__wrapped__", None) or fixture.__pytest_wrapped__.obj
    folder: str = function(_Factory(base))
    return folder


def _tiledwriter_client(directory: Path, readable: list[Path], stack: ExitStack) -> Any:
    """A client of Tiled's own SQL catalog (in-process), as upstream's tests have it."""
    from tiled.catalog import from_uri as catalog_from_uri
    from tiled.client import Context, from_context
    from tiled.server.app import build_app

    (directory / "data").mkdir(parents=True)
    catalog = catalog_from_uri(directory / "catalog.db", init_if_not_exists=True,
                               writable_storage=[directory / "data",
                                                 f"duckdb:///{directory / 'tables.duckdb'}"],
                               readable_storage=readable)
    context = stack.enter_context(Context.from_app(build_app(catalog)))
    return from_context(context)


def _feed(writer: Any, documents: list[dict[str, Any]]) -> list[str]:
    """Each document (a deep copy) to ``writer``; what it raised, one line each."""
    raised = []
    for item in documents:
        try:
            writer(item["name"], copy.deepcopy(item["doc"]))
        except Exception as exc:  # noqa: BLE001 - a writer's refusal is a result here
            raised.append(f"{item['name']}: {type(exc).__name__}: {exc}"[:200])
    return raised


class _Recorded(logging.Handler):
    """Keeps what a writer logs (our callback logs what it rejects and carries on)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if line not in self.lines:
            self.lines.append(line[:300])


def _read(client: Any, uid: str, stream: str) -> tuple[Any, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return client[uid][stream].read(), ""
    except Exception as exc:  # noqa: BLE001 - a failed read is a result here
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:160]


def _compare_run(example: str, uid: str, theirs: Any, ours: Any) -> Iterator[Row]:
    their_streams = list(theirs[uid]) if uid in theirs else []
    our_streams = list(ours[uid]) if uid in ours else []
    for stream in their_streams + [s for s in our_streams if s not in their_streams]:
        if stream not in our_streams or stream not in their_streams:
            side = "TiledWriter" if stream in their_streams else "we"
            yield Row(example, uid, stream, "", "differs", ("missing stream",),
                      f"only {side} have the stream")
            continue
        expected, their_error = _read(theirs, uid, stream)
        got, our_error = _read(ours, uid, stream)
        if their_error and our_error:
            yield Row(example, uid, stream, "", "both raise", ("read",),
                      f"TiledWriter: {their_error}; ours: {our_error}")
        elif their_error or our_error:
            yield Row(example, uid, stream, "", "differs", ("read",),
                      f"read() raises {'with TiledWriter' if their_error else 'with us'}: "
                      f"{their_error or our_error}")
        else:
            for r in sorted(compare_datasets(expected, got), key=lambda r: r.variable):
                yield Row(example, uid, stream, r.variable, r.status, r.what, r.detail)


def compare_examples(source: Path, workdir: Path) -> tuple[list[Row], dict[str, list[str]]]:
    """Write every example set both ways under ``workdir``; the rows and what writers raised."""
    tests = source / "tests"
    render = _load(tests / "examples" / "render.py", "_btp_upstream_render")
    assets = _upstream_assets(tests, workdir / "upstream")
    rows: list[Row] = []
    raised: dict[str, list[str]] = {}
    with ExitStack() as stack:
        from bluesky_tiled_plugins import TiledWriter

        theirs = _tiledwriter_client(workdir / "tiled", [Path(assets)], stack)
        served = ServedBeamtime(workdir / "beamtime")
        stack.callback(served.close)

        def ours_writer(name: str, doc: dict[str, Any]) -> None:
            served.callback(name, doc)
            if name == "stop":
                served.callback.flush()

        for path in sorted((tests / "examples").glob("*.json")):
            example = path.stem
            documents = list(render.render_templated_documents(path.name, assets))
            uids = [d["doc"]["uid"] for d in documents if d["name"] == "start"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for who, writer in (("TiledWriter", TiledWriter(theirs)), ("ours", ours_writer)):
                    recorded = _Recorded()
                    logging.getLogger().addHandler(recorded)
                    try:
                        lines = [f"raised on {line}" for line in _feed(writer, documents)]
                    finally:
                        logging.getLogger().removeHandler(recorded)
                    lines += [f"logged: {line}" for line in recorded.lines]
                    raised.setdefault(example, []).extend(f"{who} {line}" for line in lines)
            served.callback.flush()
            for uid in uids:
                rows.extend(_compare_run(example, uid, theirs, served.client))
    return rows, raised


_HEADER = """\
# Conformance: bluesky-tiled-plugins' example documents, `read()` through Tiled

Written by `python -m tools.conformance.examples` (`make conformance`, after the suites; {date}).
Every document set in bluesky-tiled-plugins {pin}'s `tests/examples/*.json` is prepared as
upstream's tests prepare it (the detector files made by upstream's `external_assets_folder`
fixture, the documents rendered into that folder by upstream's `render_templated_documents`)
and written twice: by `TiledWriter` into Tiled's own SQL catalog, and by our
`RunWriterCallback` into a beamtime served by our app. Then for every run and stream,
`run[stream].read()` through the same Tiled client library is compared variable by
variable: presence, dims, dtype and values (NaN equal to NaN; "close" means
`np.allclose(rtol=atol=1e-12)` but not identical). The reason column is from reading
both writers (`tools/conformance/example_reasons.py`). TiledWriter's Dataset is the
expected one ("A vs B" in a detail is TiledWriter's, then ours).
Environment: tiled {tiled}, bluesky-tiled-plugins {pin}, xarray {xarray}.

**Totals:** {totals}.
"""


def _reason(row: Row) -> str:
    return REASONS.get((row.example, row.stream, row.variable), "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[Row], raised: dict[str, list[str]], *, header: str) -> str:
    """The per-variable table, what the writers raised, and the differences with reasons."""
    lines = [header, "| example | run | stream | variable | status | what | detail | reason |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(c) for c in (
            r.example, r.run[:8], r.stream, f"`{r.variable}`" if r.variable else "(stream)",
            r.status, ", ".join(r.what), r.detail, _reason(r) if r.status != "equal" else "",
        )) + " |")
    if any(raised.values()):
        lines += ["", "## What the writers raised or logged (warnings) while writing", ""]
        for example, messages in raised.items():
            if not messages:
                continue
            lines += [f"- {example}: {_cell(m)}" for m in messages]
    return "\n".join(lines) + "\n"


def totals(rows: list[Row]) -> str:
    """``N variables compared: E equal, D differ (...)`` with the runs and streams."""
    counts = Counter(r.status for r in rows)
    runs = len({(r.example, r.run) for r in rows})
    streams = len({(r.example, r.run, r.stream) for r in rows})
    clean = streams - len({(r.example, r.run, r.stream) for r in rows if r.status != "equal"})
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return (f"{runs} runs, {streams} streams ({clean} equal in every variable), "
            f"{len(rows)} rows: {parts}")


def main(argv: list[str] | None = None) -> int:
    """Compare every example both ways; write the Markdown table; print the totals."""
    parser = argparse.ArgumentParser(prog="python -m tools.conformance.examples",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".conformance",
                        help="where the sdist is (fetched if missing; default .conformance/)")
    parser.add_argument("--markdown", type=Path, default=REPO / "docs" / "conformance-examples.md")
    args = parser.parse_args(argv)
    try:
        source = fetch(SUITE, args.cache.resolve())
    except ConformanceError as exc:
        print(f"conformance examples: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="conformance-examples-") as tmp:
        rows, raised = compare_examples(source, Path(tmp))
    header = _HEADER.format(date=datetime.date.today().isoformat(), pin=SUITE.version,
                            tiled=version("tiled"), xarray=version("xarray"),
                            totals=totals(rows))
    args.markdown.write_text(render_markdown(rows, raised, header=header))
    print(f"examples: {totals(rows)}")
    print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
