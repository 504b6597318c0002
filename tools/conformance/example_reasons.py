"""Why a variable of an example run reads differently from TiledWriter's (found by reading both).

Keys are ``(example, stream, variable)``; ``variable`` is ``""`` for a whole
stream (a ``read()`` that raises). :mod:`tools.conformance.examples` puts the
reason in the table's last column; a difference without one is new and wants a look.
"""

from __future__ import annotations

__all__ = ["REASONS"]

_NO_EVENTS = ("a stream fed by stream_datum only, without event documents: TiledWriter has "
              "no event table and so no `time`; ours is when the writer received each "
              "stream_datum (as tests/tiled_server/test_side_by_side.py pins)")
_DIM_NAMES = ("dims-less fields get generated dimension names: TiledWriter names each distinct "
              "length once per stream (dim_int_1, dim_int_2, ... in the order it meets them, "
              "which varies from run to run; equal lengths share a name: its _internal_dims), "
              "we number the dimensions field after field")

# (example, stream, variable) -> why it differs; "" as variable: the whole stream.
REASONS: dict[tuple[str, str, str], str] = {
    ("external_assets", "secondary", "time"): _NO_EVENTS,
    ("external_assets_single_key", "primary", "time"): _NO_EVENTS,
    ("external_assets_single_key_two_files", "primary", "time"): _NO_EVENTS,
    ("external_assets_single_key_two_files", "primary", "det-key2"): (
        "the example's second stream resource declares seq_nums 1-5 again after the first's "
        "1-3: TiledWriter appends every stream_datum's frames in arrival order (3 + 5), we "
        "place frames by seq_num and refuse (and record) the 3 that name events already "
        "filled, keeping seq_nums 4-5"),
    ("external_assets_bytes", "primary", ""): (
        "both serve octet-stream data as bytes nodes, which read() refuses by design "
        "(TiledWriter's own test only inspects data_sources()); the same error both ways"),
    ("internal_events", "primary", "time"): (
        "the example has a data key named `time`: TiledWriter keeps the event timestamps as "
        "`time` and its Dataset has the data key as `time_`; we serve the data key's values "
        "as `time` (the event timestamps are shadowed): a bug on our side"),
    ("internal_events", "primary", "time_"): (
        "see `time`: the data key `time` as TiledWriter's Dataset names it"),
    ("internal_events", "primary", "str_img"): (
        "a 2-d array of strings: we store it inline as it came and read it back as strings, "
        "numpy taking the width from the values (<U2) where TiledWriter's Zarr array keeps "
        "<U3; its dims are named as for any dims-less field (see str_arr)"),
    ("internal_events", "primary", "str_arr"): _DIM_NAMES,
    ("internal_events", "primary", "long"): (
        "shape [8] without dtype_numpy: TiledWriter keeps it in its event table, where the "
        "list becomes its numpy str() ('[0 1 2 ...]'); we store an int64 (3, 8) array "
        "(and name its dimension as for any dims-less field, see str_arr)"),
    ("internal_events", "primary", "empty"): (
        "shape [] with empty lists: TiledWriter's event table turns each into the string "
        "'[]'; we store a float64 (3, 0) array"),
    ("internal_events", "primary", "ragged_padded"): (
        "declared shape [4] but one event has 2 elements: both keep it as text, TiledWriter "
        "as numpy's str() ('[0 1 2 3]'), we as JSON ('[0, 1, 2, 3]')"),
    ("internal_events", "primary", "ragged"): (
        "shape [2, null]: TiledWriter pads to a float64 (3, 2, 4) array with NaN and names "
        "the dims ragged_dim1/2; we keep the field (ragged fields cost only themselves) as "
        "JSON text, one string per event"),
}
