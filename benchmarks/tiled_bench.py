"""Reading a 1,000-frame run over Tiled: our server vs a TiledWriter-fed Tiled server.

    python -m benchmarks.tiled_bench [--quick] [--frames N] [--repeats R] [--out FILE]

One RunEngine run (a 128x128 uint16 camera, N frames, inline in the events) is fed at
once to bluesky-tiled-plugins' TiledWriter (into Tiled's SimpleTiledServer, SQLite +
Zarr) and to RunWriterCallback (SQLite + Zarr), so both hold the same documents. Both
servers run in this process on 127.0.0.1, over real HTTP. For each, R times with a
fresh client (``from_uri``, no cache):

- first frame: ``from_uri`` + ``client[uid]["primary"].base["img"][0]``;
- full read: ``from_uri`` + ``client[uid]["primary"].read()`` (every frame and column).

Medians are reported, with the ratio (TiledWriter's time / ours). The two Datasets are
checked equal first. --quick: 50 frames, 2 repeats (a smoke run).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _camera(frames: int) -> Any:
    import numpy as np
    from ophyd.sim import SynSignal

    rng = np.random.default_rng(0)
    stack = rng.integers(0, 4096, size=(frames, 128, 128), dtype=np.uint16)
    counter = itertools.count()
    return SynSignal(func=lambda: stack[next(counter) % frames], name="cam")


def _timed(func: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run(frames: int, repeats: int) -> dict[str, Any]:
    import uvicorn
    import xarray
    from bluesky import RunEngine
    from bluesky.plans import count
    from bluesky_tiled_plugins import TiledWriter
    from tiled.client import from_uri
    from tiled.server import SimpleTiledServer
    from tiled.server.simple import ThreadedServer

    from resonance_callback import RunWriterCallback
    from resonance_callback.tiled_server import build_app

    logging.getLogger("tiled").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        theirs = SimpleTiledServer(base / "tiled")
        try:
            callback = RunWriterCallback(base / "ours.db")
            RE = RunEngine({}, context_managers=[])
            RE.subscribe(TiledWriter(from_uri(theirs.uri)))
            RE.subscribe(callback)
            t0 = time.perf_counter()
            (uid,) = RE(count([_camera(frames)], frames))
            callback.close()
            written = time.perf_counter() - t0
            app = build_app(base / "ours.db", api_key=theirs.api_key)  # Tiled's auth is global
            ours = ThreadedServer(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                 log_level="error"))
            with ours.run_in_thread() as url:
                uris = {"ours": (url, theirs.api_key), "TiledWriter": (theirs.uri, None)}

                def client(which: str) -> Any:
                    uri, key = uris[which]
                    return from_uri(uri, api_key=key) if key else from_uri(uri)

                check = {w: client(w)[uid]["primary"].read() for w in uris}
                xarray.testing.assert_equal(check["ours"], check["TiledWriter"])
                out: dict[str, Any] = {"frames": frames, "frame_shape": [128, 128],
                                       "repeats": repeats, "write_both_s": round(written, 3)}
                for which in uris:
                    first, frame = _timed(
                        lambda w=which: client(w)[uid]["primary"].base["cam"][0], repeats)
                    full, ds = _timed(lambda w=which: client(w)[uid]["primary"].read(),
                                      repeats)
                    assert frame.shape == (128, 128) and ds.sizes["time"] == frames
                    out[which] = {"first_frame_s": round(first, 4), "full_read_s": round(full, 4)}
                for key in ("first_frame_s", "full_read_s"):
                    out[f"{key}_ratio_tiledwriter_over_ours"] = round(
                        out["TiledWriter"][key] / out["ours"][key], 3)
                return out
        finally:
            theirs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 frames, 2 repeats")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    frames, repeats = (50, 2) if args.quick else (args.frames, args.repeats)
    result = run(frames, repeats)
    print(f"{frames} frames 128x128 uint16, median of {repeats} (fresh client each time)")
    print(f"{'server':<12} {'first frame':>12} {'full read()':>12}")
    for which in ("ours", "TiledWriter"):
        r = result[which]
        print(f"{which:<12} {r['first_frame_s']*1e3:>10.1f}ms {r['full_read_s']*1e3:>10.1f}ms")
    print(f"TiledWriter / ours: first frame {result['first_frame_s_ratio_tiledwriter_over_ours']}x,"
          f" full read {result['full_read_s_ratio_tiledwriter_over_ours']}x")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
