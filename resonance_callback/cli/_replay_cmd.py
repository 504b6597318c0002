"""The ``replay`` command: saved document streams into a beamtime."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

import click

from resonance_callback.cli._base import FRAMES_HELP, handle_errors, main
from resonance_callback.errors import ReplayError
from resonance_callback.replay import ReplaySummary, replay
from resonance_callback.replay.formats import DEFAULT_MAX_RECORD_BYTES

__all__ = ["ProgressLine", "replay_command"]


class ProgressLine:
    """Replay progress on a terminal, rewritten in place; silent elsewhere.

    When the size of the files is known, a click progress bar of the bytes
    read, with the documents read, their rate and the time left (ETA, from
    the bytes read so far and the time they took); for standard input, one
    line of documents, rate and runs.

    Parameters
    ----------
    stream : text stream
        Where to write (standard error); nothing is written unless it is a TTY.
    interval : float, optional
        Seconds between two updates.
    """

    def __init__(self, stream: TextIO, interval: float = 0.2) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval
        self._width = 0
        self._next = 0.0
        self._bar: Any = None  # click's ProgressBar of the replay being shown
        self._shown: ReplaySummary | None = None  # that replay's summary

    def __call__(self, summary: ReplaySummary) -> None:
        """Show the progress of the replay ``summary`` describes."""
        now = time.monotonic()
        if not self.enabled or now < self._next:
            return
        self._next = now + self.interval
        if summary.bytes_total:
            self._draw_bar(summary)
            return
        rate = summary.documents / summary.seconds if summary.seconds > 0 else 0.0
        where = summary.files[-1] if summary.files else ""
        line = (f"{summary.documents} documents ({rate:.0f}/s), {summary.runs} runs"
                + (f"  {where}" if where else ""))[:120]
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    @staticmethod
    def info(summary: ReplaySummary | None) -> str:
        """Documents, their rate, bytes per second and the time left, e.g. ``ETA 0:01:05``."""
        if summary is None or not summary.bytes_total:
            return ""
        seconds = max(summary.seconds, 1e-9)
        done = summary.bytes_read / summary.bytes_total
        eta = "--:--:--"
        if done > 0:
            left = int(round(seconds * (1 - done) / done))
            eta = f"{left // 3600}:{left // 60 % 60:02}:{left % 60:02}"
        return (f"{summary.documents} documents, {summary.documents / seconds:.0f}/s, "
                f"{summary.bytes_read / seconds / 1e6:.1f} MB/s, ETA {eta}")

    def _draw_bar(self, summary: ReplaySummary) -> None:
        if self._shown is not summary:  # a new replay: a new bar
            self.clear()
            where = summary.files[-1] if summary.files else ""
            self._bar = click.progressbar(
                length=summary.bytes_total, file=self.stream, show_eta=False,
                show_percent=True, item_show_func=self.info, width=24,
                label=Path(where).name[-32:])
            self._shown = summary
        bar = self._bar
        bar.current_item = summary
        if summary.bytes_read > bar.pos:
            bar.update(summary.bytes_read - bar.pos)
        bar.render_progress()
        self._width = max(self._width, bar.max_width or 0)

    def clear(self) -> None:
        """Erase the line or bar, if one was drawn (and show the cursor the bar hid)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            if self._bar is not None:
                self.stream.write("\033[?25h")
            self.stream.flush()
            self._width = 0
        self._bar = self._shown = None


def _pairs(ctx: click.Context, param: click.Parameter,
           values: tuple[str, ...]) -> dict[str, str]:
    """Turn repeated ``OLD=NEW`` into a dict."""
    pairs = {}
    for item in values:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise click.BadParameter(f"{item!r} is not OLD=NEW")
        pairs[old] = new
    return pairs


def _total(db: Path, parts: list[ReplaySummary]) -> ReplaySummary:
    total = ReplaySummary(str(parts[0].db_path) if parts else str(db))
    for part in parts:
        total.files += part.files
        total.runs_open += part.runs_open
        for name in ("documents", "runs", "runs_added", "runs_resumed", "events",
                     "events_added", "frames_added", "already_stored", "rejected", "seconds",
                     "damaged_count"):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.damaged += part.damaged
        total.interrupted = total.interrupted or part.interrupted
    return total


INTERRUPTED = ("interrupted: rerun the same command to finish "
               "(already stored documents are skipped)")


@main.command("replay")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True)
@click.option("--db", "db", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The beamtime database to write (created if missing).")
@click.option("--sample", help="Sample of runs whose start document names none.")
@click.option("--root-map", "root_map", multiple=True, callback=_pairs, metavar="OLD=NEW",
              help="Detector files under OLD are read from NEW instead. Repeatable.")
@click.option("--base-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory relative detector-file paths resolve against "
                   "[default: the directory of each PATH].")
@click.option("--allowed-root", "allowed_roots", multiple=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Read detector files only under this directory. Repeatable.")
@click.option("--max-record-bytes", type=click.IntRange(min=1),
              default=DEFAULT_MAX_RECORD_BYTES, show_default=True,
              help="Largest line (json-seq or msgpack record) read; a longer one is "
                   "reported as damaged by its size and skipped, never held in memory.")
@click.option("--frames", metavar="URL", help=FRAMES_HELP)
@handle_errors
def replay_command(paths: tuple[str, ...], db: Path, sample: str | None,
                   root_map: dict[str, str], base_dir: Path | None,
                   allowed_roots: tuple[Path, ...], max_record_bytes: int,
                   frames: str | None) -> None:
    r"""Store the runs of saved document streams in beamtime DB, as if run again.

    PATH is a file, a directory (its files, sorted by name, as one stream) or
    - for standard input, in any format Bluesky tools write (suitcase-jsonl,
    JSON lines, json-seq, a JSON array, suitcase-msgpack, each maybe
    gzipped). Documents already stored are skipped, so replaying twice
    changes nothing, and replaying the whole of a file cut off earlier
    completes its runs.

    A damaged line (not JSON, cut, binary garbage, no [name, doc] pair,
    longer than --max-record-bytes) is skipped and replay goes on with the
    next line (json-seq: the next record; msgpack: the next place a record
    starts; a broken JSON array, corrupt gzip: the next file). Each is listed
    in the summary with its file, line and byte offset, and kept in the
    beamtime's rejected_documents as 'damaged'.

    \b
    Exit codes:
        0    everything stored
        1    a record was damaged, a document rejected, or a PATH unusable
             (the summary says what; everything else is stored)
        130  interrupted (Ctrl-C): what was read is stored and committed;
             rerun the same command to finish

    \b
    Examples:
        resonance-callback replay scans/*.jsonl --db beamtime.db
        zcat run.jsonl.gz | resonance-callback replay - --db beamtime.db --sample PS-1
        resonance-callback replay old/ --db beamtime.db --root-map /old/data=/archive/data
        resonance-callback replay scans/ --db beamtime.db --frames s3://frames/beamtime
    """
    options: dict[str, Any] = {"root_map": root_map or None, "base_dir": base_dir,
                               "max_record_bytes": max_record_bytes, "raise_on_damage": False}
    if sample is not None:
        options["sample"] = sample
    if frames is not None:
        options["frames"] = frames
    if allowed_roots:
        options["allowed_roots"] = list(allowed_roots)
    progress = ProgressLine(sys.stderr)
    parts, errors, interrupted = [], [], False
    try:
        for path in paths:
            try:
                parts.append(replay(path, db, progress=progress, **options))
            except ReplayError as exc:
                errors.append(str(exc))
                parts.append(getattr(exc, "summary", None) or ReplaySummary(str(db)))
            except KeyboardInterrupt as exc:
                interrupted = True
                parts.append(getattr(exc, "summary", None) or ReplaySummary(str(db)))
                break
    finally:
        progress.clear()
    total = _total(db, parts)
    click.echo("\n".join(total.lines()))
    for error in errors:
        click.echo(f"Error: {error}", err=True)
    for line in total.damage_errors():
        click.echo(f"Error: {line}", err=True)
    if total.rejected:
        click.echo(f"Error: {total.rejected} document(s) rejected, kept in rejected_documents "
                   f"('resonance-callback show {db} UID' lists a run's)", err=True)
    if interrupted:
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    if errors or total.rejected or total.damaged_count:
        sys.exit(1)
