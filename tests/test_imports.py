"""course_lib's modules import each other without a circle (the house style's rule 14).

Every ``import`` and ``from ... import`` between course_lib modules counts, including those under
``if TYPE_CHECKING:`` and inside functions: a circle hidden that way still ties the modules together.
A package's ``__init__`` is left out as a target, because it only re-exports its submodules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import course_lib

ROOT = Path(course_lib.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The course_lib modules (not packages) that ``path`` imports."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def test_no_import_circles():
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = {n for n, p in files.items() if p.name != "__init__.py"}
    graph = {n: _imports(files[n], modules) for n in modules}
    assert graph["course_lib.train.loop"] >= {"course_lib.train.checkpoint"}  # the walk sees relative imports
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import circle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, path + [node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])
