"""A run's documents over HTTP: ``run.documents()`` through bluesky-tiled-plugins' client."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky.plans import count, scan
from ophyd.sim import det, direct_img, motor

from resonance_callback import RunWriterCallback

from ..conftest import Captured
from ..external.test_detector_files import blob_in, img_in
from ..external.test_external import fly_plan
from .conftest import API_KEY, serving


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back (numpy arrays as lists, tuples as lists)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if isinstance(
        v, np.ndarray | np.generic) else repr(v)))


def as_served(name: str, doc: dict[str, Any]) -> tuple[str, Any]:
    """A document as the client receives it: a datum as a one-datum datum_page."""
    if name == "datum":
        name, doc = "datum_page", {"resource": doc["resource"], "datum_id": [doc["datum_id"]],
                                   "datum_kwargs": {k: [v] for k, v in doc["datum_kwargs"].items()}}
    return name, plain(doc)


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory):
    """Runs written by the callback while every document is captured.

    Yields the URL of the served beamtime, the captures by run, and the directory.
    """
    base = tmp_path_factory.mktemp("documents")
    RE = RunEngine({}, context_managers=[])
    callback = RunWriterCallback(base / "bt.db")
    RE.subscribe(callback)
    runs: dict[str, Captured] = {}
    try:
        for which, plan in [("scan", scan([det, direct_img], motor, -1, 1, 3)),
                            ("files", count([img_in(base / "npy")], 3)),
                            ("fly", fly_plan(blob_in(base / "fly"), 3, 1))]:
            captured = Captured()
            RE(plan, captured)
            runs[which] = captured
    finally:
        callback.close()
    with serving(base / "bt.db") as url:
        yield url, runs, base


@pytest.mark.parametrize("which", ["scan", "files", "fly"])
def test_run_documents_over_http_are_the_documents_the_run_engine_emitted(
        emitted, which, open_client) -> None:
    url, runs, _ = emitted
    captured = runs[which]
    uid = captured.of("start")[0]["uid"]
    got = [(name, plain(doc)) for name, doc in open_client(url, api_key=API_KEY)[uid].documents()]
    assert got == [as_served(name, doc) for name, doc in captured]


def test_documents_of_a_run_in_a_served_directory(emitted, open_client) -> None:
    _, runs, base = emitted
    captured = runs["files"]
    uid = captured.of("start")[0]["uid"]
    with serving(base) as url:
        run = open_client(url, api_key=API_KEY)["bt"][uid]
        got = [(name, plain(doc)) for name, doc in run.documents()]
    assert got == [as_served(name, doc) for name, doc in captured]


def test_documents_are_refused_without_the_api_key(emitted) -> None:
    import httpx

    url, runs, _ = emitted
    uid = runs["scan"].of("start")[0]["uid"]
    answer = httpx.get(f"{url.rstrip('/')}/api/v1/container/full/{uid}",
                       headers={"Accept": "application/json-seq"})
    assert answer.status_code == 401
    answer = httpx.get(f"{url.rstrip('/')}/api/v1/container/full/{uid}",
                       headers={"Accept": "application/json-seq",
                                "Authorization": f"Apikey {API_KEY}"})
    assert answer.status_code == 200
    assert answer.text.startswith('\x1e{"name": "start"')


def test_a_stream_is_not_exported_as_documents(emitted) -> None:
    import httpx

    url, runs, _ = emitted
    uid = runs["scan"].of("start")[0]["uid"]
    answer = httpx.get(f"{url.rstrip('/')}/api/v1/container/full/{uid}/primary",
                       headers={"Accept": "application/json-seq",
                                "Authorization": f"Apikey {API_KEY}"})
    assert answer.status_code == 406


def test_a_kept_datum_whose_kwargs_are_not_a_dict_is_exported_as_it_was_kept(
        tmp_path) -> None:
    import time
    import uuid

    import httpx

    start = {"uid": uuid.uuid4().hex, "time": time.time(), "plan_name": "count"}
    resource = {"uid": uuid.uuid4().hex, "spec": "NPY_SEQ", "root": str(tmp_path),
                "resource_path": "missing", "resource_kwargs": {}, "run_start": start["uid"]}
    datum = {"datum_id": f"{resource['uid']}/0", "resource": resource["uid"],
             "datum_kwargs": [1]}  # refused by the handler, kept as it came
    stop = {"uid": uuid.uuid4().hex, "run_start": start["uid"], "time": time.time(),
            "exit_status": "success"}
    with RunWriterCallback(tmp_path / "bt.db", threaded=False) as callback:
        for name, doc in [("start", start), ("resource", resource), ("datum", datum),
                          ("stop", stop)]:
            callback(name, doc)
    with serving(tmp_path / "bt.db") as url:
        answer = httpx.get(f"{url.rstrip('/')}/api/v1/container/full/{start['uid']}",
                           headers={"Accept": "application/json-seq",
                                    "Authorization": f"Apikey {API_KEY}"})
    records = [json.loads(text) for text in answer.text.split("\x1e") if text]
    assert [record["name"] for record in records] == ["start", "resource", "datum_page", "stop"]
    assert records[2]["doc"]["datum_kwargs"] == [1]
