"""``python -m tools.conformance``: both runs of each suite, then the table."""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

from tools.conformance.run import REPO, ConformanceError, last_results, run_suite
from tools.conformance.suites import SUITES, Suite
from tools.conformance.table import Row, merge, render_markdown, to_json

_HEADER = """\
# Conformance: the ecosystem's own tests, against TiledWriter and against us

Written by `make conformance` (`python -m tools.conformance`, {date}). The released
sdists of {pins} are downloaded into `.conformance/`, and their tests run twice with
upstream's own pytest configuration:

- **TiledWriter**: their fixtures as upstream has them: `TiledWriter` into a Tiled SQL
  catalog, read through Tiled (for databroker, its `sqlite-tiled` backend for `db`,
  `db_empty`, `broker_factory` and `c`).
- **ours**: the same tests with their fixtures redirected
  (`tools/conformance/redirect_*.py`, appended to their conftest): every document their
  writer fixtures write goes to our `RunWriterCallback` (`threaded=False`) into a beamtime,
  and their `client` is a Tiled client of our `serve-tiled` app (`build_app`) over that
  beamtime. `TiledWriter`'s own options (`batch_size`, `validate`, `patches`, ...) are
  ignored by the stand-in.

Classes: **client-visible** (reads through the client what a writer stored: expected of us),
**writer-internal** (asserts TiledWriter's own options or internals: listed, not expected
of us), **no-server** (neither writer nor server: the same code both times).
Each test is bounded to {timeout:g} s (pytest-timeout). One deviation from upstream's
`filterwarnings = error`, in both runs: an exception in the thread of a Tiled websocket
subscription at its end (anyio's `ClosedResourceError` with this tiled) is not turned into
a failure; it failed every streaming test against TiledWriter too.
Environment: Python {python}, tiled {tiled}, bluesky {bluesky}, event-model {event_model}.
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.conformance", description=__doc__)
    parser.add_argument("--cache", type=Path, default=REPO / ".conformance",
                        help="where sdists and runs go (default .conformance/)")
    parser.add_argument("--markdown", type=Path, default=REPO / "docs" / "conformance.md")
    parser.add_argument("--json", type=Path, default=REPO / "docs" / "conformance.json")
    parser.add_argument("--suite", action="append", choices=[s.name for s in SUITES],
                        help="run only this suite (repeatable; default all)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per test (default 60)")
    parser.add_argument("-k", dest="select", help="pytest -k expression (a partial run)")
    parser.add_argument("--from-cache", action="store_true",
                        help="do not run: write the table from the cache's last results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run every chosen suite both ways; write the Markdown and JSON tables; print totals."""
    args = _parse(argv)
    chosen = [s for s in SUITES if not args.suite or s.name in args.suite]
    results: list[tuple[Suite, list[Row]]] = []
    try:
        for suite in chosen:
            if args.from_cache:
                reference, ours = (last_results(suite, args.cache, mode)
                                   for mode in ("tiledwriter", "ours"))
            else:
                print(f"{suite.slug}: against TiledWriter ...", flush=True)
                reference = run_suite(suite, args.cache, "tiledwriter",
                                      timeout=args.timeout, select=args.select)
                print(f"{suite.slug}: against us ...", flush=True)
                ours = run_suite(suite, args.cache, "ours", timeout=args.timeout,
                                 select=args.select)
            results.append((suite, merge(suite, reference, ours)))
    except ConformanceError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    meta = {
        "date": datetime.date.today().isoformat(),
        "pins": {s.name: s.version for s in chosen},
        "timeout": args.timeout,
        "python": platform.python_version(),
        "tiled": version("tiled"), "bluesky": version("bluesky"),
        "event_model": version("event-model"),
    }
    header = _HEADER.format(**{
        **meta, "pins": ", ".join(f"{s.name} {s.version}" for s in chosen)})
    args.markdown.write_text(render_markdown(results, header=header))
    args.json.write_text(json.dumps(to_json(results, meta=meta), indent=1) + "\n")
    for suite, rows in results:
        for cls in ("client-visible", "all"):
            chosen_rows = [r for r in rows if cls in ("all", r.cls)]
            ref = sum(r.tiledwriter == "passed" for r in chosen_rows)
            our = sum(r.ours == "passed" for r in chosen_rows)
            print(f"{suite.slug} {cls}: {our}/{len(chosen_rows)} pass against us, "
                  f"{ref}/{len(chosen_rows)} against TiledWriter")
    print(f"wrote {args.markdown} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
