"""The JSON codec is unambiguous: user data shaped like a tag comes back as itself."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from event_model import compose_run

from resonance_callback import RunWriterCallback, jsoncodec
from resonance_callback.cli import main

TAG_SHAPED = [
    {"$float": "NaN"}, {"$float": "Infinity"}, {"$float": 1.5}, {"$bytes": "!!"},
    {"$bytes": "AAE="}, {"$dict": [["a", 1]]}, {"$dict": "x"}, {"$": None},
    {"$float": {"$bytes": "!!"}}, [{"$bytes": "AAE="}],
]


@pytest.mark.parametrize("value", TAG_SHAPED, ids=[json.dumps(v) for v in TAG_SHAPED])
def test_user_value_shaped_like_a_tag_round_trips_as_itself(value: object) -> None:
    assert jsoncodec.loads(jsoncodec.dumps({"k": value})) == {"k": value}
    assert jsoncodec.loads(jsoncodec.dumps(value)) == value


def test_our_own_tags_still_decode_as_before() -> None:
    old = '{"a":{"$float":"NaN"},"b":{"$float":"-Infinity"},"c":{"$bytes":"AAE="}}'
    got = jsoncodec.loads(old)
    assert math.isnan(got["a"]) and got["b"] == -math.inf and got["c"] == b"\x00\x01"


def test_stored_bytes_tag_that_is_not_base64_decodes_as_the_object_it_is() -> None:
    assert jsoncodec.loads('{"m":{"$bytes":"!!"}}') == {"m": {"$bytes": "!!"}}


def test_lone_surrogate_is_written_as_an_escape_and_decodes_back() -> None:
    text = jsoncodec.dumps({"s": "a\ud800b", "t": ["\udfff"]})
    text.encode("utf-8")  # valid UTF-8: SQLite takes it
    assert jsoncodec.loads(text) == {"s": "a\ud800b", "t": ["\udfff"]}


def test_too_deep_document_is_clipped_whole_not_raised() -> None:
    value: object = 1
    for _ in range(5000):
        value = [value]
    text = jsoncodec.dumps_whole({"x": value})
    assert "nested deeper than" in text


def test_show_prints_metadata_shaped_like_tags(tmp_path: Path) -> None:
    bundle = compose_run(metadata={"m": {"$bytes": "!!"}, "f": {"$float": 2}})
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        callback("start", bundle.start_doc)
        callback("stop", bundle.compose_stop())
    result = CliRunner().invoke(main, ["show", str(tmp_path / "bt.db"), "-1", "--json"])
    assert result.exit_code == 0, result.output
    assert '"$bytes"' in result.output and "!!" in result.output


def test_show_reads_a_database_written_before_tags_were_escaped(tmp_path: Path) -> None:
    bundle = compose_run(metadata={"m": "placeholder"})
    with RunWriterCallback(tmp_path / "bt.db") as callback:
        callback("start", bundle.start_doc)
        callback("stop", bundle.compose_stop())
    with sqlite3.connect(tmp_path / "bt.db") as conn:  # as an older version stored it
        conn.execute("UPDATE runs SET metadata = json_set(metadata, '$.m', json(?))",
                     ('{"$bytes":"abc"}',))
    conn.close()
    result = CliRunner().invoke(main, ["show", str(tmp_path / "bt.db"), "-1"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("text", "long"), [
    ("[1,12345678901234567890]", True),
    ("12345678901234567890", True),
    ('{"a": -1234567890123456789}', True),
    ("[0.0070162316995941755, 1.2345678901234567e+19]", False),
    ('{"a": 922337203685477580}', False),
    ('"\ud800 1234567890123456789"', True),  # a lone surrogate in text: still looked at
])
def test_text_that_may_hold_an_integer_past_64_bits_is_told_apart(text: str, long: bool) -> None:
    assert jsoncodec.may_hold_long_integer(text) is long
    assert jsoncodec.may_hold_long_integer(text.encode("utf-8", "surrogatepass")) is long
