"""Fetch a suite's sdist into the cache, prepare its two copies, and run pytest on each.

Layout of the cache directory (``.conformance/`` by default)::

    sdists/<name>-<version>.tar.gz      what pip downloaded
    <name>-<version>/src/               the sdist, extracted
    <name>-<version>/<mode>/            a copy with the mode's conftest addition
    <name>-<version>/<mode>.json        per-test results (tools.conformance.record)
    <name>-<version>/<mode>.log         pytest's output
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from tools.conformance.suites import Suite

__all__ = ["MODES", "REPO", "ConformanceError", "fetch", "last_results", "prepare", "run_suite"]

REPO = Path(__file__).resolve().parents[2]
MODES = ("tiledwriter", "ours")
_MARK = "# --- injected by tools.conformance ---"
# Tiled's websocket subscriptions end with an exception in their thread at teardown
# (anyio ClosedResourceError); upstream's filterwarnings=error would fail every streaming
# test on it, against TiledWriter too. Both runs let it pass; the test's own asserts count.
_THREAD_WARNING = "ignore::pytest.PytestUnhandledThreadExceptionWarning"


class ConformanceError(RuntimeError):
    """The harness could not fetch, prepare or run a suite (the message says which)."""


def _sdist_name(suite: Suite) -> str:
    return f"{suite.name.replace('-', '_')}-{suite.version}.tar.gz"


def fetch(suite: Suite, cache: Path) -> Path:
    """Return the extracted sdist of ``suite``, downloading it with pip if not cached."""
    source = cache / suite.slug / "src"
    if (source / "PKG-INFO").is_file():
        return source
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    archive = sdists / _sdist_name(suite)
    if not archive.is_file():
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                   "--no-deps", "-q", "-d", str(sdists),
                   suite.requirement]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not archive.is_file():
            raise ConformanceError(f"pip download {suite.requirement} failed: "
                                   f"{(done.stderr or done.stdout).strip()[-500:]}")
    unpacked = cache / suite.slug / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    (top,) = [p for p in unpacked.iterdir() if p.is_dir()]
    shutil.rmtree(source, ignore_errors=True)
    top.rename(source)
    shutil.rmtree(unpacked)
    return source


def conftest_addition(plugin: str) -> str:
    """The text appended to upstream's conftest to load a redirect module's fixtures."""
    return f"\n\n{_MARK}\nfrom {plugin} import *  # noqa: F401,F403\n"


def _has_pytest_config(root: Path) -> bool:
    checks = {"pytest.ini": "", "pyproject.toml": "[tool.pytest.ini_options]",
              "tox.ini": "[pytest]", "setup.cfg": "[tool:pytest]"}
    return any((root / name).is_file() and marker in (root / name).read_text()
               for name, marker in checks.items())


def prepare(suite: Suite, source: Path, cache: Path, mode: str) -> Path:
    """Copy the sdist to ``<cache>/<slug>/<mode>`` with the mode's conftest addition."""
    target = cache / suite.slug / mode
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    if not _has_pytest_config(target):
        # Without one, pytest would take the configuration of a directory above (ours).
        (target / "pytest.ini").write_text(f"[pytest]\n{_MARK} (upstream has none)\n")
    plugin = suite.ours_plugin if mode == "ours" else suite.reference_plugin
    if plugin is not None:
        conftest = target / suite.conftest
        conftest.write_text(conftest.read_text() + conftest_addition(plugin))
    if mode == "ours":
        for file, old, new in suite.renames:
            path = target / file
            text = path.read_text()
            if old not in text:
                raise ConformanceError(f"{suite.slug}/{file}: {old!r} not found to rename")
            path.write_text(text.replace(old, new))
    return target


def run_suite(suite: Suite, cache: Path, mode: str, *, timeout: float = 60.0,
              select: str | None = None) -> dict[str, Any]:
    """Run the suite's test files in one mode; return ``{test id: result}``.

    ``timeout`` bounds each test (pytest-timeout); ``select`` is pytest's ``-k``.
    """
    cache = cache.resolve()
    source = fetch(suite, cache)
    where = prepare(suite, source, cache, mode)
    results = cache / suite.slug / f"{mode}.json"
    earlier: dict[str, Any] = {}
    if select and results.is_file():  # a partial run updates the last run's results
        earlier = last_results(suite, cache, mode)
    results.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["CONFORMANCE_RESULTS"] = str(results)
    command = [sys.executable, "-m", "pytest", "-p", "tools.conformance.record",
               "-p", "no:cacheprovider", f"--timeout={timeout:g}", "-W", _THREAD_WARNING,
               "-q", "--no-header", f"--rootdir={where}", *suite.files]
    if select:
        command += ["-k", select]
    log = cache / suite.slug / f"{mode}.log"
    with open(log, "w") as out:
        subprocess.run(command, cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT,
                       check=False)
    if not results.is_file():
        raise ConformanceError(f"{suite.slug} ({mode}): pytest wrote no results; see {log}")
    if earlier:
        earlier.update(last_results(suite, cache, mode))
        results.write_text(json.dumps(earlier, indent=1, sort_keys=True))
    return last_results(suite, cache, mode)


def last_results(suite: Suite, cache: Path, mode: str) -> dict[str, Any]:
    """The results the last run of ``suite`` in ``mode`` left in the cache."""
    results = cache.resolve() / suite.slug / f"{mode}.json"
    if not results.is_file():
        raise ConformanceError(f"{suite.slug} ({mode}): no results at {results}; "
                               f"see {results.with_suffix('.log')}")
    loaded: dict[str, Any] = json.loads(results.read_text())
    return loaded
