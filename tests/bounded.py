"""Run one step in a child process under a generous time bound, and read its peak memory.

A step that grows as N² (a quadratic SQL statement, say) cannot be interrupted from
the test's thread; run in a spawned child it is killed at the bound and the test fails
with a line naming the step, instead of hanging the suite. The child's peak resident
memory (``VmHWM``) is its own, so a test can bound memory by the size of its input.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Callable
from typing import Any

import pytest


def _peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child(target: Callable[..., Any], args: tuple[Any, ...], out: Any) -> None:
    try:
        result = target(*args)
        out.put(("ok", result, _peak_mb()))
    except BaseException:
        out.put(("error", traceback.format_exc(), _peak_mb()))


def run_bounded(target: Callable[..., Any], *args: Any, seconds: float) -> tuple[Any, float]:
    """Run ``target(*args)`` in a spawned process; return its result and peak RSS in MB.

    The test fails if the step raises (with its traceback) or has not finished
    within ``seconds`` (the child is killed). ``target`` must be a module-level
    function and its arguments and result picklable.
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, out), daemon=True)
    proc.start()
    try:
        status, result, peak = out.get(timeout=seconds)
    except queue.Empty:
        proc.kill()
        proc.join()
        pytest.fail(f"{target.__name__} did not finish within {seconds:g} s")
    finally:
        out.close()
    proc.join(30)
    if status != "ok":
        pytest.fail(f"{target.__name__} failed in its process:\n{result}")
    return result, peak
