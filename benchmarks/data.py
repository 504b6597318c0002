"""Documents and frames the cases feed, made once per process, outside the timings."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import event_model
import numpy as np

T0 = 1.7e9

SCALAR_KEYS = {
    "det": {"source": "SIM:det", "dtype": "number", "shape": []},
    "motor": {"source": "SIM:motor", "dtype": "number", "shape": [], "units": "mm"},
    "motor_setpoint": {"source": "SIM:motor_sp", "dtype": "number", "shape": []},
}


def scalar_docs(n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield one run of ``n`` events of three float fields, as ``count`` would make."""
    bundle = event_model.compose_run(time=T0, metadata={"plan_name": "count", "scan_id": 1,
                                                        "detectors": ["det"], "num_points": n})
    yield "start", bundle.start_doc
    desc = bundle.compose_descriptor(name="primary", data_keys=SCALAR_KEYS, time=T0,
                                     object_keys={"det": ["det"], "motor": ["motor",
                                                                            "motor_setpoint"]})
    yield "descriptor", desc.descriptor_doc
    compose = desc.compose_event
    for i in range(n):
        t = T0 + i * 1e-3
        x = i * 1e-3
        yield "event", compose(
            data={"det": float(np.exp(-((x - 0.5) ** 2))), "motor": x, "motor_setpoint": x},
            timestamps={"det": t, "motor": t, "motor_setpoint": t},
            seq_num=i + 1, time=t, validate=False)
    yield "stop", bundle.compose_stop(time=T0 + n * 1e-3, exit_status="success")


def frame_pool(shape: tuple[int, int], k: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``k`` distinct uint16 frames: a gaussian spot that moves, on a background, Poisson noise."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for j in range(k):
        cy, cx = h * (0.4 + 0.2 * j / k), w * (0.6 - 0.2 * j / k)
        sigma = min(h, w) / 16
        spot = 3000.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        mean = 20.0 + spot
        frames.append(rng.poisson(mean).astype(np.uint16))
    return frames


def frame_docs(pool: list[np.ndarray], n: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield one run of ``n`` events, each with one frame from ``pool`` (shared arrays)."""
    shape = list(pool[0].shape)
    bundle = event_model.compose_run(time=T0, metadata={"plan_name": "count", "scan_id": 1})
    yield "start", bundle.start_doc
    keys = {"img": {"source": "SIM:img", "dtype": "array", "shape": shape,
                    "dtype_numpy": "<u2"},
            "stats_total": {"source": "SIM:total", "dtype": "number", "shape": []}}
    desc = bundle.compose_descriptor(name="primary", data_keys=keys, time=T0)
    yield "descriptor", desc.descriptor_doc
    cycle = itertools.cycle(pool)
    for i in range(n):
        t = T0 + i * 1e-3
        yield "event", desc.compose_event(
            data={"img": next(cycle), "stats_total": float(i)},
            timestamps={"img": t, "stats_total": t}, seq_num=i + 1, time=t, validate=False)
    yield "stop", bundle.compose_stop(time=T0 + n * 1e-3, exit_status="success")
