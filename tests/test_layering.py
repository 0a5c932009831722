"""Imports flow one way: structures, io -> datasets -> models, diffusion -> generators -> training -> cli."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "molgen"
LEVEL = {
    "runtime": 0,
    "config": 0,
    "structures": 1,
    "io": 1,
    "datasets": 2,
    "core": 2,
    "models": 3,
    "diffusion": 3,
    "generators": 4,
    "training": 5,
    "benchmark": 5,
    "testing": 6,
    "cli": 7,
    "__init__": 7,
}


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_imports_only_point_down_the_layers():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        own = layer(module) if module != "molgen" else "__init__"
        own = own.removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("molgen."):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("molgen.")]
            for name in names:
                if LEVEL[layer(name)] > LEVEL[own]:
                    offenders.append(f"{module} imports {name}")
    assert not offenders, offenders
