"""The client runs in every shell: it must never load boto3, botocore, psutil, watchdog or the agent."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import switchrole
from support.world import World

PACKAGE = Path(switchrole.__file__).parent
CLIENT_MODULES = ("__init__", "__main__", "cli", "client", "protocol", "wire", "render", "paths")
FORBIDDEN = ("boto3", "botocore", "psutil", "watchdog", "switchrole.agent", "s3transfer", "urllib3")

# Runs one client command in this process, then reports what it imported on the last stderr line.
RUN_CLIENT = """
import json, sys
from switchrole.cli import main
rc = main({argv!r})
sys.stdout.flush()
print("\\n" + json.dumps({{"rc": rc, "modules": sorted(sys.modules)}}), file=sys.stderr)
"""


def run_client(world: World, *argv: str) -> tuple[int, str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", RUN_CLIENT.format(argv=list(argv))],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stderr.strip().splitlines()[-1])
    return int(report["rc"]), out.stdout, list(report["modules"])


def forbidden_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_env_against_a_warm_agent_loads_nothing_heavy(world: World) -> None:
    warm = world.run("env", "test")
    assert warm.returncode == 0, warm.stderr
    rc, stdout, modules = run_client(world, "env", "test", "--shell", "bash")
    assert rc == 0
    assert "export AWS_ACCESS_KEY_ID=" in stdout
    assert "switchrole.cli" in modules and "switchrole.client" in modules  # the probe is real
    assert forbidden_in(modules) == []


def test_env_with_autostart_loads_nothing_heavy(world: World) -> None:
    # The client spawns the agent as another process; it does not import it.
    assert world.agent_pid() is None
    rc, stdout, modules = run_client(world, "env", "test", "--shell", "bash")
    assert rc == 0
    assert "export AWS_ACCESS_KEY_ID=" in stdout
    assert world.agent_pid() is not None
    assert forbidden_in(modules) == []


def test_env_of_an_unknown_profile_loads_nothing_heavy(world: World) -> None:
    assert world.run("env", "test").returncode == 0
    rc, stdout, modules = run_client(world, "env", "nope", "--shell", "bash")
    assert rc != 0
    assert stdout == "false\n"
    assert forbidden_in(modules) == []


@pytest.mark.parametrize(
    "argv",
    [("env", "--unset", "--shell", "fish"), ("status",), ("status", "--json"), ("version",)],
    ids=["env-unset", "status", "status-json", "version"],
)
def test_other_hot_commands_load_nothing_heavy(world: World, argv: tuple[str, ...]) -> None:
    assert world.run("env", "test").returncode == 0
    rc, _stdout, modules = run_client(world, *argv)
    assert rc == 0
    assert forbidden_in(modules) == []


def test_the_probe_would_notice_a_heavy_import(world: World) -> None:
    # `list` is allowed to use botocore's config parser: the same probe must see it there.
    _rc, _stdout, modules = run_client(world, "list")
    assert "botocore" in modules
    assert "switchrole.agent.config" in modules


# -- static check of module-level imports --------------------------------------------------


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports executed when the module is imported: not those inside functions."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.stmt)])
                        for handler in children:
                            if isinstance(handler, ast.ExceptHandler):
                                visit(handler.body)

    visit(tree.body)
    return found


def _relative_targets(node: ast.ImportFrom) -> list[str]:
    """Package modules a module-level ``from .x import y`` loads (names of switchrole/*.py)."""
    if node.module is not None:
        return [node.module]
    # `from . import a, b`: each is a sibling module or a name defined in __init__.py.
    return [
        a.name if (PACKAGE / f"{a.name}.py").exists() or (PACKAGE / a.name).is_dir() else "__init__"
        for a in node.names
    ]


def _problems(path: Path, package_modules: set[str] | None = None) -> list[str]:
    """Module-level imports outside the standard library and this package's client side.

    Relative imports are allowed only of top-level modules of the package (never ``agent``);
    their names are added to ``package_modules`` so the caller can check them in turn.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for node in _module_level_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in sys.stdlib_module_names:
                    problems.append(f"line {node.lineno}: import {alias.name}")
        elif node.level == 0:
            top = (node.module or "").split(".")[0]
            if top not in sys.stdlib_module_names and top != "__future__":
                problems.append(f"line {node.lineno}: from {node.module} import ...")
        elif node.level != 1:
            problems.append(f"line {node.lineno}: from {'.' * node.level}{node.module} import ...")
        else:
            for target in _relative_targets(node):
                if "." in target or not (PACKAGE / f"{target}.py").exists():
                    problems.append(f"line {node.lineno}: from .{target} import ...")
                elif package_modules is not None:
                    package_modules.add(target)
    return problems


def _client_closure() -> dict[str, list[str]]:
    """Every package module the client loads at import time, with its problems."""
    seen: dict[str, list[str]] = {}
    todo = set(CLIENT_MODULES)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        found: set[str] = set()
        seen[name] = _problems(PACKAGE / f"{name}.py", found)
        todo |= found - set(seen)
    return seen


@pytest.mark.parametrize("name", CLIENT_MODULES)
def test_client_module_imports_only_the_standard_library(name: str) -> None:
    path = PACKAGE / f"{name}.py"
    assert path.exists()
    assert _problems(path) == []


def test_everything_the_client_imports_is_standard_library_only() -> None:
    closure = _client_closure()
    assert set(CLIENT_MODULES) <= set(closure)
    assert {name: problems for name, problems in closure.items() if problems} == {}


def test_agent_imports_in_cli_happen_only_inside_functions() -> None:
    tree = ast.parse((PACKAGE / "cli.py").read_text())
    inside = [
        node
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for node in ast.walk(func)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent")
    ]
    # cli.py does reach the agent (daemon run, list), only ever lazily.
    assert inside, "expected lazy `from .agent...` imports inside cli.py functions"
    top = _module_level_imports(tree)
    assert not [n for n in top if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("agent")]


def test_static_check_catches_a_heavy_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os\n"
        "import botocore.session\n"
        "from .agent.sts import Sts\n"
        "from . import __version__, agent\n"
        "try:\n    import psutil\nexcept ImportError:\n    psutil = None\n"
        "def lazy():\n    import boto3\n    from .agent import main\n"
    )
    problems = _problems(bad)
    assert len(problems) == 4, problems
    assert any("botocore" in p for p in problems)
    assert any(".agent.sts" in p for p in problems)
    assert any(p.endswith("from .agent import ...") for p in problems)
    assert any("psutil" in p for p in problems)
