"""Imports flow one way, down the levels below, and molgen's modules import no cycle.

A module may import modules of its own package (``molgen.io.sdf`` -> ``molgen.io.smiles``) and of
strictly lower levels; two packages on the same level may not import each other. Every import
counts: at module level or inside a function, ``import molgen.x``, ``from molgen.x import y`` and
relative forms.
"""

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "molgen"
LEVEL = {
    "runtime": 0,
    "config": 0,
    "structures": 1,
    "io": 2,
    "datasets": 3,
    "core": 3,
    "models": 4,
    "diffusion": 4,
    "generators": 5,
    "training": 6,
    "benchmark": 6,
    "testing": 7,
    "console": 7,
    "cli": 8,
    "molgen": 8,  # molgen/__init__.py
}


def module_name(path: Path) -> str:
    """``molgen/io/sdf.py`` -> ``molgen.io.sdf``; ``molgen/io/__init__.py`` -> ``molgen.io``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    """The top-level part of molgen a module belongs to (``molgen`` for the package itself)."""
    return module.split(".")[1] if "." in module else "molgen"


def imported_modules(module: str) -> set[str]:
    """The molgen modules ``module`` imports anywhere in its source (``from a import b`` counts
    as module ``a.b`` when that is a module, else as ``a``)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in out if name == "molgen" or name.startswith("molgen.")}


GRAPH = {module: imported_modules(module) for module in MODULES}


def test_every_package_has_a_level_and_every_import_is_a_module():
    assert {layer(m) for m in MODULES} <= set(LEVEL), sorted({layer(m) for m in MODULES} - set(LEVEL))
    unknown = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets if t not in MODULES]
    assert not unknown, unknown


def test_imports_point_strictly_down_the_levels():
    offenders = sorted(
        f"{module} ({layer(module)}, level {LEVEL[layer(module)]}) imports {target} "
        f"({layer(target)}, level {LEVEL[layer(target)]})"
        for module, targets in GRAPH.items()
        for target in targets
        if layer(target) != layer(module) and LEVEL[layer(target)] >= LEVEL[layer(module)]
    )
    assert not offenders, "\n".join(offenders)


def test_molgen_modules_import_no_cycle():
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None
