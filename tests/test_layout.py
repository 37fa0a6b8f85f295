"""The repository layout keeps its promises."""

from __future__ import annotations

import importlib
import queue
import sys
import sysconfig
from pathlib import Path

import autointerp

ROOT = Path(__file__).resolve().parents[1]


def test_import_queue_is_the_standard_library() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(queue.__file__).resolve().parent == stdlib
    assert hasattr(queue, "Queue") and hasattr(queue, "SimpleQueue")
    assert not (ROOT / "queue" / "__init__.py").exists()
    # The same holds in a fresh interpreter started from the repository root, which is
    # where kombu/celery import it.
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import queue, concurrent.futures, logging.handlers; print(queue.__file__)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(out).resolve().parent == stdlib


def test_top_level_layout() -> None:
    for name in (
        "pyproject.toml",
        "autointerp",
        "scorers",
        "queue",
        "deploy",
        "tests",
        "docker",
        "README.md",
        "benchmarks",
        ".ci/run",
        "Makefile",
    ):
        assert (ROOT / name).exists(), name


def test_public_api_is_what_all_lists() -> None:
    for name in autointerp.__all__:
        assert getattr(autointerp, name) is not None, name
    assert set(autointerp.__all__) == {
        "__version__",
        "AutointerpError",
        "RunConfig",
        "load_sae",
        "load_subject_model",
        "read_table",
        "run",
    }


def test_every_module_imports() -> None:
    for package in ("autointerp", "scorers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))


def _imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement in ``path`` names."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_storage_never_imports_the_scorer_plugins() -> None:
    """The store (and the primary-metric registry it reads) sits below ``scorers``."""
    assert "scorers" in _imported_modules(ROOT / "autointerp" / "pipeline.py"), "the scan works"
    paths = sorted((ROOT / "autointerp" / "store").rglob("*.py"))
    paths.append(ROOT / "autointerp" / "primary_metrics.py")
    for path in paths:
        bad = {m for m in _imported_modules(path) if m.split(".")[0] == "scorers"}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def _runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    import ast

    names: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
        todo.extend(ast.iter_child_nodes(node))
    return names


def test_storage_sits_below_the_pipeline_and_its_front_doors() -> None:
    """At run time the store imports only itself, the errors, the primary-metric registry
    and the status values; never the CLI, the API or the service, not even for types."""
    below = (
        "autointerp.store",
        "autointerp.errors",
        "autointerp.primary_metrics",
        "autointerp.statuses",
    )
    above = ("autointerp.cli", "autointerp.api", "autointerp.service", "autointerp.tasks")
    assert "autointerp.cache.stats" in _imported_modules(ROOT / "autointerp/store/frames.py")
    for path in sorted((ROOT / "autointerp" / "store").rglob("*.py")):
        ours = {m for m in _runtime_imports(path) if m.split(".")[0] == "autointerp"}
        bad = {m for m in ours if not m.startswith(below)}
        bad |= {m for m in _imported_modules(path) if m.startswith(above)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def _package_modules() -> list[Path]:
    return sorted((ROOT / "autointerp").rglob("*.py")) + sorted((ROOT / "scorers").rglob("*.py"))


def test_the_library_never_imports_its_front_doors() -> None:
    """The CLI, the HTTP API and the Celery tasks call the library; nothing in the library
    (or the scorer plugins) imports them back, not even inside a function."""
    front = ("autointerp.cli", "autointerp.api", "autointerp.tasks")
    assert "autointerp.cli" in _imported_modules(ROOT / "autointerp" / "__main__.py"), "scan"
    for path in _package_modules():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module.startswith(front) or module == "autointerp.__main__":
            continue
        bad = {m for m in _imported_modules(path) if m.startswith(front)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_stage_records_live_in_one_module() -> None:
    """Every plain record passed between the stages is defined in autointerp/records.py,
    which imports nothing of the pipeline (only the status values)."""
    from autointerp import records

    for name in ("LatentSample", "Example", "LatentRecord", "Explanation", "ScoreResult"):
        assert getattr(records, name).__module__ == "autointerp.records", name
    ours = {m for m in _imported_modules(ROOT / "autointerp" / "records.py") if "autointerp" in m}
    assert ours == {"autointerp.statuses"}


MAX_MODULE_LINES = 400


def test_modules_stay_small() -> None:
    """No module of the library or the scorer plugins grows past ~400 lines."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in _package_modules()
    }
    assert len(sizes) > 100, "the scan found the package"
    big = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"
