"""The architecture docs/architecture.md draws: each package imports only the packages below it, and every module says in its
first line what it is for."""

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "assistant"
# Lowest first; a module may import from its own package and from any package before it.
LAYERS = ["", "text", "llm", "store", "ingest", "retrieve", "answer", "eval", "app"]
BASE = {"settings", "errors", "offline"}  # the modules at the package root, below everything


def _layer(module_path: Path) -> str:
    parts = module_path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def _imported_layers(path: Path) -> set[str]:
    """The layers a module imports from (relative imports resolved against its own package)."""
    own = list(path.relative_to(PACKAGE).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = own[: len(own) - (node.level - 1)] if node.level > 1 else own
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [a.name for a in node.names] if not target else []
            for first in ([target[0]] if target else names):
                found.add("" if first in BASE else first)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in modules:
                parts = m.split(".")
                if parts[0] == "assistant" and len(parts) > 1:
                    found.add("" if parts[1] in BASE else parts[1])
    return found


def test_every_package_imports_only_packages_below_it():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue  # the public API re-exports the top (lazily)
        layer = _layer(path)
        for used in _imported_layers(path):
            assert used in LAYERS, f"{path}: imports an unknown package {used!r}"
            if LAYERS.index(used) > LAYERS.index(layer):
                wrong.append(f"{path.relative_to(ROOT)} ({layer or 'base'}) imports {used}")
    assert not wrong, "imports that run up the stages:\n" + "\n".join(wrong)


def test_every_module_says_what_it_is_for():
    silent = [
        str(p.relative_to(ROOT)) for p in sorted(PACKAGE.rglob("*.py"))
        if len((ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) or "").split()) < 3
    ]
    assert not silent, f"modules without a first line saying what they are for: {silent}"
