"""The package's import graph, read from the code: no cycle, no private name across packages.

Every import that can run counts, those inside functions included (a lazy import still ties
two modules); imports under ``if TYPE_CHECKING:`` do not.  A lower floor never imports a
higher one, and a name that starts with ``_`` stays in its package.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "convcli"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _imports(name: str, path: Path, package: bool, modules: dict) -> list[tuple[str, str | None]]:
    """``(module imported, name taken or None)`` for every runtime import of a module."""
    here = name if package else name.rpartition(".")[0]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in modules else base, alias.name))
    result = []
    for target, taken in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            result.append((target, taken))
    return result


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []

    def package_of(m: str) -> str:
        return m if modules[m][1] else m.rpartition(".")[0]

    for name, (path, package) in modules.items():
        for target, taken in _imports(name, path, package, modules):
            edges[name].add(target)
            if taken and taken.startswith("_") and not taken.startswith("__"):
                if package_of(name) != package_of(target):
                    private.append(f"{name} takes {taken} from {target}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_sees_a_lazy_cycle_and_a_private_name(tmp_path, monkeypatch):
    pkg = tmp_path / "convcli"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from convcli import b\n")
    (pkg / "b.py").write_text("from convcli.a import f\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nfrom convcli.a import _hidden\n"
        "if TYPE_CHECKING:\n    from convcli.sub import d\n"
    )
    (pkg / "sub" / "d.py").write_text("from . import c\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    edges, private = _graph()
    assert _cycles(edges) == [["convcli.a", "convcli.b"]]
    assert private == ["convcli.sub.c takes _hidden from convcli.a"]


def test_no_module_imports_one_that_imports_it_back():
    edges, _ = _graph()
    assert sum(len(v) for v in edges.values()) > 150  # the graph was read
    assert _cycles(edges) == []


def test_no_private_name_crosses_a_package():
    _, private = _graph()
    assert private == []
