"""The ``export`` command: runs of a beamtime as files (one per run, or one for all)."""

from __future__ import annotations

from pathlib import Path

import click

from resonance_callback.cli._base import handle_errors, main
from resonance_callback.cli._filters import RUN_KEY_SETTINGS, filter_options

__all__ = ["export"]

_DB = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command(context_settings=RUN_KEY_SETTINGS)
@click.argument("db", type=_DB)
@click.argument("run_keys", metavar="[RUN]...", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "msgpack", "nexus", "csv", "tiff"]),
              default="jsonl", show_default=True, help="What to write.")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True,
              help="One RUN: the file, or a directory to put it in ('-': stdout, jsonl and "
                   "msgpack; csv, tiff: a directory). Several runs: a directory, one file "
                   "per run; with --one-file, the file.")
@click.option("--one-file", is_flag=True,
              help="jsonl, msgpack, nexus: every run selected in the one file OUT.")
@filter_options
@click.option("--stream", "streams", multiple=True,
              help="csv/tiff: only this stream (repeatable; default all).")
@click.option("--field", "fields", multiple=True,
              help="tiff: only this frame field (repeatable; default all).")
@click.option("--stack", is_flag=True, help="tiff: one multi-page file per field.")
@click.option("--no-fill", is_flag=True,
              help="jsonl, msgpack: keep external references instead of frames copied into "
                   "the store.")
@click.option("--timestamps", is_flag=True, help="csv: add a ts_<field> column per field.")
@handle_errors
def export(db: Path, run_keys: tuple[str, ...], fmt: str, out: Path, one_file: bool,
           sample: str | None, plan: str | None, status: str | None, since: str | None,
           until: str | None, scan_id: int | None, tag: str | None, where: dict[str, str],
           streams: tuple[str, ...], fields: tuple[str, ...], stack: bool, no_fill: bool,
           timestamps: bool) -> None:
    r"""Write runs of beamtime DB out as files.

    Each RUN is a uid, a unique prefix, a scan_id, -N, or a range of scan
    ids A..B (both included; 3.. and ..12 leave an end open). The filters
    (--sample, --since, ...) keep only the runs they match; with no RUN they
    select the runs. Runs are written oldest first.

    One RUN (no range, no filter) goes to the file OUT (into it, if OUT is a
    directory; '-': standard output, jsonl and msgpack). Otherwise OUT is a
    directory with one file per run, named scan<NNNNN>-<uid8>.<suffix>
    (.jsonl, .msgpack, .nxs; csv and tiff: a directory), or with --one-file
    the one file holding them all. An existing file is never overwritten.

    jsonl: the document stream, one ["name", {doc}] per line (frames as
    nested lists; NaN as {"$float": "NaN"}). msgpack: the document stream as
    suitcase-msgpack writes it (databroker and `replay` read it). Both carry
    each run's stored sample, so `replay` restores it. nexus: NeXus/HDF5, an
    NXentry per run with every stream, its frames compressed, the start and
    stop documents, the configuration and a default plot from the hints.
    csv: one table per stream, <stream>.csv. tiff: every frame as
    <stream>_<field>_<NNNNN>.tif, or one multi-page file per field with --stack.

    \b
    Examples:
        resonance-callback export demo/demo.db 79587e05 -o run.jsonl
        resonance-callback export demo/demo.db -1 --format nexus -o latest.nxs
        resonance-callback export demo/demo.db 3..12 --format nexus -o nexus/
        resonance-callback export demo/demo.db --sample 'PS-*' --format msgpack -o ps/
        resonance-callback export demo/demo.db .. --format msgpack --one-file -o all.msgpack
        resonance-callback export demo/demo.db 79587e05 --format csv -o run-csv/
        resonance-callback export demo/demo.db 79587e05 --format tiff --stack -o frames/
    """
    from resonance_callback.read import export_selected, open_beamtime

    filters = {"sample": sample, "plan": plan, "exit_status": status, "since": since,
               "until": until, "scan_id": scan_id, "tag": tag, "where": where or None}
    if not run_keys and all(value is None for value in filters.values()):
        raise click.UsageError("name the runs: RUN keys, a range such as 3..12, or a filter "
                               "(--since, --sample, ...)")
    with open_beamtime(db) as bt:
        written = export_selected(bt, run_keys, fmt, out, one_file=one_file, filters=filters,
                                  fill=not no_fill, streams=streams, fields=fields,
                                  stack=stack, timestamps=timestamps)
    if str(out) == "-":
        return
    for item in written:
        files = f"{item.files} {fmt} files of " if fmt in ("csv", "tiff") else ""
        if item.documents is not None:
            files = f"{item.documents} documents of "
        click.echo(f"Wrote {files}{item.named} to {item.path}", err=True)
