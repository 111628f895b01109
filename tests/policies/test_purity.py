"""`policies/` is pure: every module imports only the standard library and `policies` itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import policies

ROOT = Path(policies.__file__).parent


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_policies_module_imports_only_stdlib() -> None:
    modules = sorted(ROOT.rglob("*.py"))
    assert len(modules) >= 10
    for module in modules:
        foreign = imported_roots(module) - set(sys.stdlib_module_names) - {"policies", "__future__"}
        assert not foreign, f"{module.name} imports {sorted(foreign)}"
