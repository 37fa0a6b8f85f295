"""The shape of autointerp.cli: no import circle between its modules, each module imports
first in a fresh interpreter, and the command table is built once and matches the parser."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import autointerp.cli
from autointerp.cli.app import COMMANDS, build_parser, main

PACKAGE = Path(autointerp.cli.__file__).parent
ROOT = PACKAGE.parents[1]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_module(p): p for p in sorted(PACKAGE.glob("*.py"))}


def _cli_imports(path: Path) -> set[str]:
    """The autointerp.cli modules ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module in MODULES:
            for alias in node.names:  # a submodule, or a name the module defines
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found - {_module(path)}


def test_the_cli_modules_import_each_other_without_a_circle() -> None:
    graph = {name: _cli_imports(path) for name, path in MODULES.items()}
    assert graph["autointerp.cli.app"] >= {
        "autointerp.cli.run_commands",
        "autointerp.cli.service_commands",
    }, "the scan works"
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        assert name not in stack, "import circle: " + " -> ".join([*stack, name])
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*stack, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    # The command modules sit below app: they import the shared helpers (options, the
    # run summary's text) only, never app or each other.
    for name, deps in graph.items():
        if name.endswith("_commands"):
            assert deps <= {"autointerp.cli.options", "autointerp.cli.summary"}, (name, deps)


@pytest.mark.slow  # subprocesses (~1 s each)
def test_each_cli_module_imports_first_in_a_fresh_interpreter() -> None:
    for name in MODULES:
        done = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"import {name}:\n{done.stderr}"


def test_the_command_table_is_every_subcommand_and_main_leaves_it_alone() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(COMMANDS) == list(sub.choices)
    before = dict(COMMANDS)
    assert main(["config"]) == 0
    assert main(["config"]) == 0
    assert before == COMMANDS


@pytest.mark.slow  # subprocesses (~1 s each)
def test_the_console_script_and_python_m_reach_main() -> None:
    import importlib
    import tomllib

    from autointerp import __version__

    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"][
        "autointerp"
    ]
    module, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module), attr) is main
    for entry in ("autointerp", "autointerp.cli"):
        done = subprocess.run(
            [sys.executable, "-m", entry, "--version"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, f"autointerp {__version__}\n"), entry
