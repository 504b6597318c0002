"""Packaging: a plain install reads and runs the CLI; an optional part names its extra.

The optional packages are blocked in a subprocess (``sys.modules[name] = None``
makes ``import name`` fail as if it were not installed), so these tests run on
the full test environment.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from resonance_callback import open_beamtime
from resonance_callback._demo import run_demo

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "resonance_callback"
OPTIONAL = {"plot": "matplotlib", "jpeg": "PIL",  # extra -> a module it provides
            "xarray": "xarray", "tiled": "tiled", "serve": "nats", "kafka": "confluent_kafka",
            "postgres": "psycopg", "s3": "obstore"}


def run_python(script: str, *, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter in which the ``blocked`` modules cannot import."""
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )


def project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", Requirement(r).name).lower() for r in requirements}


def own_extras(requirements: list[str]) -> set[str]:
    """The extras of resonance-callback itself that ``requirements`` pull in."""
    parsed = (Requirement(r) for r in requirements)
    return {e for r in parsed if r.name == "resonance-callback" for e in r.extras}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    db, _ = run_demo(tmp_path_factory.mktemp("demo"))
    with open_beamtime(db) as bt:
        scan = bt.runs(plan="scan")[0]
        return {"db": str(db), "scan": scan.uid, "rows": str(len(scan.table()))}


# --------------------------------------------------------------------------- without extras


def test_package_reader_and_cli_import_without_matplotlib_and_pillow() -> None:
    result = run_python(
        """
        import resonance_callback
        import resonance_callback.read
        import resonance_callback.cli
        import resonance_callback.external
        print("imported")
        """,
        blocked=("matplotlib", "PIL"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_reader_table_and_cli_work_without_matplotlib_and_pillow(demo: dict[str, str]) -> None:
    result = run_python(
        f"""
        from resonance_callback import open_beamtime
        from resonance_callback.cli import main

        with open_beamtime({demo["db"]!r}) as bt:
            table = bt[{demo["scan"]!r}].table()
            print(type(table).__name__, len(table))
        main(["runs", {demo["db"]!r}], standalone_mode=False)
        """,
        blocked=("matplotlib", "PIL"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"DataFrame {demo['rows']}"
    assert demo["scan"][:8] in result.stdout


def test_plot_without_matplotlib_raises_one_line_naming_the_plot_extra(
    demo: dict[str, str], tmp_path: Path
) -> None:
    result = run_python(
        f"""
        from resonance_callback import open_beamtime
        from resonance_callback.errors import MissingExtraError
        from resonance_callback.read import plot_run

        with open_beamtime({demo["db"]!r}) as bt:
            try:
                plot_run(bt[{demo["scan"]!r}], ["det"], {str(tmp_path / "x.png")!r})
            except MissingExtraError as exc:
                print(isinstance(exc, ImportError), exc, sep="|")
        """,
        blocked=("matplotlib",),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "True|plotting needs matplotlib: pip install 'resonance-callback[plot]'\n"
    )
    assert not (tmp_path / "x.png").exists()


def test_plot_command_without_matplotlib_prints_one_line_naming_the_plot_extra(
    demo: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "x.png"
    result = run_python(
        f"""
        from resonance_callback.cli import main

        main(["plot", {demo["db"]!r}, {demo["scan"]!r}, "det", "-o", {str(out)!r}])
        """,
        blocked=("matplotlib",),
    )
    assert result.returncode == 1
    assert result.stderr == (
        "Error: plotting needs matplotlib: pip install 'resonance-callback[plot]'\n"
    )
    assert not out.exists()


# --------------------------------------------------------------------------- declared dependencies


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """Each absolute import's top-level module, and whether it is guarded.

    Guarded: inside ``with needs_extra(...)`` or ``if TYPE_CHECKING``.
    """
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], guarded))
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and getattr(item.context_expr.func, "id", None) == "needs_extra"
            for item in node.items
        ):
            guarded = True
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def test_every_package_the_library_imports_is_a_dependency_or_behind_its_extra() -> None:
    meta = project()
    core = names(meta["dependencies"])
    extras = {extra: names(meta["optional-dependencies"][extra]) for extra in OPTIONAL}
    distributions = packages_distributions()
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, guarded in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module in sys.stdlib_module_names or module == "resonance_callback":
                continue
            dists = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions[module]}
            where = f"{path.relative_to(ROOT)} imports {module}"
            if dists & core:
                continue
            optional = [extra for extra, provided in extras.items() if dists & provided]
            assert optional, f"{where}, which no dependency or extra installs"
            assert guarded, f"{where} (extra {optional[0]}) outside `with needs_extra(...)`"


def test_pandas_is_a_dependency_and_plot_and_jpeg_are_extras_the_test_extra_pulls() -> None:
    meta = project()
    core = names(meta["dependencies"])
    extras = meta["optional-dependencies"]
    assert "pandas" in core
    assert {"matplotlib", "pillow"}.isdisjoint(core)
    assert names(extras["plot"]) == {"matplotlib"}
    assert names(extras["jpeg"]) == {"pillow"}
    assert names(extras["handlers"]) == {"area-detector-handlers"}
    assert {"plot", "jpeg", "handlers", "serve"} <= own_extras(extras["test"])


def test_serve_tiled_without_tiled_prints_one_line_naming_the_tiled_extra(
    demo: dict[str, str]
) -> None:
    result = run_python(
        f"""
        from resonance_callback.cli import main

        main(["serve-tiled", {demo["db"]!r}, "--public"])
        """,
        blocked=("tiled",),
    )
    assert result.returncode == 1
    assert result.stderr == ("Error: serving beamtimes over Tiled needs tiled[server]: "
                             "pip install 'resonance-callback[tiled]'\n")


def test_xarray_and_tiled_are_extras_the_test_extra_pulls_with_the_bluesky_client() -> None:
    extras = project()["optional-dependencies"]
    assert names(extras["xarray"]) == {"xarray", "dask"}
    assert {"tiled", "uvicorn"} <= names(extras["tiled"])
    assert {"xarray", "tiled"} <= own_extras(extras["test"])
    assert "bluesky-tiled-plugins" in names(extras["test"])
    assert {"xarray", "dask", "tiled"}.isdisjoint(names(project()["dependencies"]))
