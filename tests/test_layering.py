"""The package's layers: no module imports one of a higher layer, and the torch-free modules
stay free of torch. Read from the source with ``ast`` (nothing is imported), so a lazy
import inside a function counts as much as one at the top of a file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "ganzoo"

#: Lowest first. A module may import its own layer and the ones below; the longest matching
#: prefix places it (``ganzoo.onnx.export`` is a tool, the rest of ``ganzoo.onnx`` a part).
#: ``ganzoo.api`` is the objective contract that models, objectives and the loop share, so it
#: sits at the bottom; the export, the evaluation and the bench build generators through the
#: engine, so they sit above it with the other tools.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("ganzoo", "ganzoo.errors", "ganzoo.limits", "ganzoo.schema", "ganzoo.specs", "ganzoo.hookspecs",
              "ganzoo.api", "ganzoo.grid", "ganzoo.sampling")),
    ("registry", ("ganzoo.registry", "ganzoo.terms", "ganzoo.builtin")),
    ("parts", ("ganzoo.data", "ganzoo.models", "ganzoo.layers", "ganzoo.objectives", "ganzoo.augment", "ganzoo.ada",
               "ganzoo.metrics", "ganzoo.onnx")),
    ("engine", ("ganzoo.engine",)),
    ("tools", ("ganzoo.onnx.export", "ganzoo.onnx.translation", "ganzoo.metrics.evaluate", "ganzoo.metrics.standard",
               "ganzoo.metrics.translation", "ganzoo.testing",
               "ganzoo.scaffold", "ganzoo.demo", "ganzoo.webserver", "ganzoo.bench", "ganzoo.python_api")),
    ("cli", ("ganzoo.cli", "ganzoo.__main__")),
]

#: Modules that must import without torch: what the base install (list, plugins, generate,
#: the ORT bench, the demo) runs, and what the CLI checks before torch starts.
TORCH_FREE = ("ganzoo", "ganzoo.errors", "ganzoo.limits", "ganzoo.schema", "ganzoo.specs", "ganzoo.hookspecs",
              "ganzoo.api", "ganzoo.grid", "ganzoo.sampling", "ganzoo.registry", "ganzoo.terms",
              "ganzoo.builtin.models", "ganzoo.builtin.losses", "ganzoo.builtin.regularizers",
              "ganzoo.builtin.datasets", "ganzoo.onnx.runtime", "ganzoo.onnx.session", "ganzoo.onnx.translate",
              "ganzoo.engine.config",
              "ganzoo.testing", "ganzoo.demo", "ganzoo.webserver", "ganzoo.bench", "ganzoo.bench.ort_worker",
              "ganzoo.cli", "ganzoo.python_api")
TORCH = {"torch", "torchvision", "safetensors"}
#: The one import that points up: the package's ``__getattr__`` (PEP 562) hands out the Python API
#: when a caller asks for ``ganzoo.train``; no module of the package runs it.
FRONT_DOOR = {("ganzoo", "ganzoo.python_api")}


def _modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            hit = module == prefix or (prefix != "ganzoo" and module.startswith(prefix + "."))
            if hit and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def _targets(node: ast.AST, module: str, is_package: bool, known: dict[str, Path]) -> list[str]:
    """The modules an import statement loads: ``from ganzoo import schema`` loads ganzoo.schema."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def imports(source: str, module: str, is_package: bool = False, known: dict[str, Path] = MODULES,
            top_level: bool = False) -> list[tuple[str, int]]:
    """(imported module, line) for every import in ``source``; with ``top_level``, only the
    ones run when the module is imported (not inside functions, not under TYPE_CHECKING)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if top_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if top_level and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        found.extend((name, getattr(node, "lineno", 0)) for name in _targets(node, module, is_package, known))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def _imports_of(module: str, top_level: bool = False) -> list[tuple[str, int]]:
    path = MODULES[module]
    return imports(path.read_text(), module, path.name == "__init__.py", top_level=top_level)


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if layer_of(m) is None]
    assert not unplaced, f"place these modules in a layer of tests/test_layering.py: {unplaced}"


def test_no_module_imports_a_higher_layer():
    bad = []
    for module in MODULES:
        mine = layer_of(module)
        for target, line in _imports_of(module):
            theirs = layer_of(target) if target.split(".")[0] == "ganzoo" else None
            if mine is not None and theirs is not None and theirs > mine and (module, target) not in FRONT_DOOR:
                bad.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]}) at line {line}")
    assert not bad, "lower layers import higher ones:\n" + "\n".join(bad)


def _torch_importers(module: str) -> list[str]:
    """Every ganzoo module importing ``module`` runs (its packages' __init__ included, imports
    followed at module level only) that imports torch itself: the chain to fix."""
    seen: set[str] = set()
    stack = [module]
    culprits = []
    while stack:
        name = stack.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            current = ".".join(parts[:i])
            if current not in MODULES or current in seen:
                continue
            seen.add(current)
            for target, line in _imports_of(current, top_level=True):
                if target.split(".")[0] in TORCH:
                    culprits.append(f"{current} imports {target} at line {line}")
                elif target.split(".")[0] == "ganzoo":
                    stack.append(target)
    return culprits


@pytest.mark.parametrize("module", TORCH_FREE)
def test_torch_free_modules_import_no_torch_at_module_level(module):
    assert module in MODULES
    culprits = _torch_importers(module)
    assert not culprits, f"importing {module} imports torch: " + "; ".join(culprits)


def test_the_reader_sees_lazy_imports_and_skips_type_checking():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ganzoo import schema\n"
        "if TYPE_CHECKING:\n"
        "    import torch\n"
        "def f():\n"
        "    from ganzoo.engine.train import train\n"
        "    import torch\n"
    )
    every = [name for name, _ in imports(source, "ganzoo.grid")]
    assert "ganzoo.schema" in every and "ganzoo.engine.train" in every and "torch" in every
    assert layer_of("ganzoo.engine.train") > layer_of("ganzoo.grid")  # so that import in grid would fail the test
    top = [name for name, _ in imports(source, "ganzoo.grid", top_level=True)]
    assert top == ["typing", "ganzoo.schema"]
    assert layer_of("ganzoo.onnx.export") > layer_of("ganzoo.engine.build") > layer_of("ganzoo.onnx.runtime")
