"""The tree shows the chain: harness/ in wings that import only the wings below them, no import
circle, and an import inside a function only where a heavy optional dependency needs it
(docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "harness"
# Lowest first: each wing may import itself and those before it, never one after it.
WINGS = ["scenario", "testbed", "observe", "judge", "report", "run"]
# Modules at the package's top: below every wing (errors, shipped) or above them (cli, plugin).
GROUND, TOP = {"errors", "shipped", ""}, {"cli", "pytest_plugin"}
MAX_LOCAL_IMPORTS = 8


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def own_imports(path: Path) -> list[tuple[str, bool]]:
    """(the socklab module imported, whether inside a function) for each relative import."""
    name = module_name(path)
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    local = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for sub in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            where = base[: len(base) - node.level + 1] + (node.module or "").split(".")
            target = ".".join(part for part in where if part)
            for alias in node.names:
                sub = f"{target}.{alias.name}".strip(".")
                known = (PACKAGE / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE / sub.replace(".", "/") / "__init__.py"
                ).exists()
                found.append((sub if known else target, id(node) in local))
    return found


def graph() -> dict[str, list[tuple[str, bool]]]:
    return {
        module_name(path): own_imports(path)
        for path in PACKAGE.rglob("*.py")
        if "programs" not in path.parts
    }


def wing_rank(module: str) -> int:
    head = module.split(".")[0]
    if head in WINGS:
        return WINGS.index(head)
    return -1 if module in GROUND else len(WINGS)


def test_no_wing_imports_a_wing_above_it() -> None:
    upward = [
        f"{source} -> {target}"
        for source, imports in graph().items()
        for target, _ in imports
        if wing_rank(target) > wing_rank(source)
    ]
    assert upward == []


def test_the_package_has_no_import_circle() -> None:
    edges = {source: {target for target, _ in imports} for source, imports in graph().items()}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        for target in sorted(edges.get(node, ())):
            if circle := visit(target, [*path, node]):
                return circle
        done.add(node)
        return []

    circles = [circle for node in sorted(edges) if (circle := visit(node, []))]
    assert circles == []


def test_imports_inside_functions_are_few() -> None:
    local = [(s, t) for s, imports in graph().items() for t, inside in imports if inside]
    assert len(local) <= MAX_LOCAL_IMPORTS, local


def test_the_top_level_is_the_design_cards() -> None:
    for name in ("compose.yaml", "images", "scenarios", "harness", "tests", "Makefile"):
        assert (ROOT / name).exists(), name
    assert not (PACKAGE / "scenarios").exists() and not (PACKAGE / "compose.yaml").exists()
    assert sum((PACKAGE / wing / "__init__.py").is_file() for wing in WINGS) == len(WINGS)
