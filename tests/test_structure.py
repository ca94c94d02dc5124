"""Import discipline and layout: compute modules reach arrays only through the backend's xp,
files import downwards (backend <- tensor <- ops <- functional <- nn <- gan <- train), no
module is over 400 lines, and nothing outside a module uses its underscore names."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minigan"
MODULES = sorted(PACKAGE.rglob("*.py"))
HOST_SIDE = {"backend", "tuning", "data", "digits", "checkpoint", "plots", "train", "testing",
             "graph", "__init__", "__main__"}


def module_name(path):
    """'ops' for minigan/ops.py, 'train' for anything inside minigan/train/."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


COMPUTE = [p for p in MODULES if module_name(p) not in HOST_SIDE]
ARRAY_LIBRARIES = {"numpy", "cupy", "scipy", "torch"}
SOURCES = MODULES + [p for folder in ("examples", "tests", "benchmarks", "scripts")
                     for p in sorted((ROOT / folder).glob("*.py"))]


def rel(path):
    return str(path.relative_to(ROOT))


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield ("." * node.level) + node.module
        elif isinstance(node, ast.ImportFrom):  # from . import a, b
            yield from ("." * node.level + alias.name for alias in node.names)


def test_the_compute_modules_exist():
    assert {"tensor", "ops", "functional", "gradcheck"} <= {module_name(p) for p in COMPUTE}


@pytest.mark.parametrize("path", COMPUTE, ids=rel)
def test_compute_modules_do_not_import_array_libraries(path):
    imports = set(imported_modules(path))
    leaked = {name for name in imports if name.split(".")[0] in ARRAY_LIBRARIES}
    assert not leaked, f"{rel(path)} imports {leaked}; use backend.xp instead"


def backend_module_attributes(path):
    """Names read from the backend module (``B.name``, ``backend.name``)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("B", "backend")):
            yield node.attr


@pytest.mark.parametrize("path", COMPUTE, ids=rel)
def test_compute_modules_do_not_reach_numpy_through_the_backend(path):
    """``B.numpy`` (backend.py's own import) would be a side door around ``B.xp``."""
    leaked = set(backend_module_attributes(path)) & ARRAY_LIBRARIES
    assert not leaked, f"{rel(path)} uses backend.{leaked}; use backend.xp instead"


def test_the_checker_bites(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom numpy import exp\nB.numpy.exp(B.xp.ones(2))\n")
    assert {"numpy"} <= set(imported_modules(bad))
    assert "numpy" in set(backend_module_attributes(bad))


# each module may import only modules ranked below it
LAYERS = ["backend", "tuning", "numerics", "kernels", "tensor", "ops", "unfold", "conv", "pooling",
          "functional", "gradcheck", "testing", "module", "nn", "stabilizers", "optim",
          "divergences", "gan", "models", "checkpoint", "digits", "data", "metrics", "plots",
          "graph", "train"]


@pytest.mark.parametrize("path", [p for p in MODULES if module_name(p) in LAYERS], ids=rel)
def test_imports_flow_downwards(path):
    module = module_name(path)
    above = set(LAYERS[LAYERS.index(module) + 1:])
    inside_train = module == "train" and path.parent.name == "train"
    imports = set()
    for name in imported_modules(path):
        if name.startswith(".."):
            imports.add(name.lstrip(".").split(".")[0])
        elif name.startswith(".") and not inside_train:
            imports.add(name.lstrip(".").split(".")[0])
        elif name.startswith("minigan."):
            imports.add(name.split(".")[1])
    assert not imports & above, f"{rel(path)} imports upwards: {imports & above}"


def test_every_module_is_ranked():
    unranked = {module_name(p) for p in MODULES} - set(LAYERS) - {"__init__"}
    assert not unranked, f"add {unranked} to LAYERS in their place"


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{rel(path)} has {lines} lines; split it by concept"


def private_reach_ins(path):
    """Underscore names taken from another module: ``from m import _x`` and ``mod._x``
    where ``mod`` is an imported module (dunders such as ``__version__`` are public)."""
    tree = ast.parse(path.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"from {node.module or '.'} import {alias.name}"
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update((a.asname or a.name).split(".")[0] for a in node.names)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                and node.value.id in modules - {"self", "cls"}):
            yield f"{node.value.id}.{node.attr}"


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_nothing_reaches_into_another_modules_underscore_names(path):
    leaked = sorted(set(private_reach_ins(path)))
    assert not leaked, f"{rel(path)} uses private names of other modules: {leaked}"


def test_the_private_name_checker_bites(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from minigan.tensor import _lift\nimport minigan.functional as F\n"
                   "F._pair(3)\nprint(mg.__version__)\n")
    assert set(private_reach_ins(bad)) == {"from minigan.tensor import _lift", "F._pair"}
