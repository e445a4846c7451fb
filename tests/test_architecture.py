"""The picture the code must keep: client -> wire <- agent, no hub, pieces built in one place.

Read from the imports themselves (every import, at module level or inside a function), so a
change that rewires the project shows up here rather than in a review months later.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import switchrole

PACKAGE = Path(switchrole.__file__).parent
ROOT = PACKAGE.parent.parent
AGENT = PACKAGE / "agent"
# Pieces an agent module may depend on before it is a hub; wiring depends on them all.
MAX_AGENT_DEPENDENCIES = 8
HANDLERS = ("EnvHandler", "StatusView", "ConsoleHandler", "LoginHandler", "LogoutHandler", "Ping", "Stop")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports, anywhere in it (``from x import y`` counts x.y when
    y is a module)."""
    known = modules()
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in known and m != name}


def test_the_schema_and_the_framing_depend_on_neither_side() -> None:
    for name in ("switchrole.wire", "switchrole.protocol"):
        assert imports_of(modules()[name]) <= {"switchrole"}, name


def test_the_client_reaches_the_agent_only_lazily_and_the_agent_never_the_client() -> None:
    client_side = {n: p for n, p in modules().items() if not n.startswith("switchrole.agent")}
    shared = {"switchrole", "switchrole.wire", "switchrole.protocol", "switchrole.paths"}
    for name, path in modules().items():
        if name.startswith("switchrole.agent"):
            reached = {m for m in imports_of(path) if m in client_side}
            assert reached <= shared, (name, reached - shared)
    # And the client's agent imports are all inside functions (test_client_imports checks the
    # module level): only the config reader of `list`, `doctor` and the picker, and `daemon run`.
    for path in client_side.values():
        reached = {m for m in imports_of(path) if m.startswith("switchrole.agent")}
        assert reached <= {
            "switchrole.agent.config.listing",
            "switchrole.agent.config.model",
            "switchrole.agent.main",
        }


def test_no_agent_module_but_wiring_is_a_hub() -> None:
    agent = {n: p for n, p in modules().items() if n.startswith("switchrole.agent.")}
    over = {}
    for name, path in agent.items():
        pieces = {m for m in imports_of(path) if m in agent}
        if len(pieces) > MAX_AGENT_DEPENDENCIES and name != "switchrole.agent.wiring":
            over[name] = sorted(pieces)
    assert over == {}


def test_only_wiring_knows_the_request_handlers() -> None:
    for path in AGENT.rglob("*.py"):
        if path.name == "wiring.py":
            continue
        text = path.read_text()
        tree = ast.parse(text)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
        }
        assert not (set(HANDLERS) & used) - defined, path


def test_the_agent_modules_import_without_a_cycle() -> None:
    agent = {n: p for n, p in modules().items() if n.startswith("switchrole.agent")}
    graph = {
        n: {m for m in imports_of(p) if m in agent and agent[m].name != "__init__.py"}
        for n, p in agent.items()
    }
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, " -> ".join([*path[path.index(name) :], name])
        if name in done:
            return
        for dependency in graph[name]:
            visit(dependency, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_the_readme_layout_names_every_module_and_only_those() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("```", 2)[1]
    blocks: dict[str, set[str]] = {}
    directory = ""
    for line in layout.splitlines():
        if line and not line[0].isspace():
            directory = line.split()[0]
            blocks[directory] = set()
        blocks.setdefault(directory, set()).update(re.findall(r"\b(\w+)\.py\b", line))
    for directory, named in blocks.items():
        if not directory.startswith("daemon/"):
            continue
        actual = {p.stem for p in (ROOT / directory).glob("*.py")} - {"__init__", "__main__"}
        assert named == actual, (directory, "missing:", actual - named, "gone:", named - actual)
    package_dirs = {str(p.parent.relative_to(ROOT)) + "/" for p in PACKAGE.rglob("*.py")}
    assert package_dirs <= set(blocks), package_dirs - set(blocks)
