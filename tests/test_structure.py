"""Import discipline: compute modules reach arrays only through the backend's xp, and files
import downwards (backend <- tensor <- functional <- nn <- gan <- train)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigan"
HOST_SIDE = {"backend", "data", "checkpoint", "plots", "train", "testing", "__init__"}
COMPUTE = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in HOST_SIDE)
ARRAY_LIBRARIES = {"numpy", "cupy", "scipy", "torch"}


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
    assert {"tensor", "functional", "gradcheck"} <= set(COMPUTE)


@pytest.mark.parametrize("module", COMPUTE)
def test_compute_modules_do_not_import_array_libraries(module):
    imports = set(imported_modules(PACKAGE / f"{module}.py"))
    leaked = {name for name in imports if name.split(".")[0] in ARRAY_LIBRARIES}
    assert not leaked, f"minigan/{module}.py imports {leaked}; use backend.xp instead"


def backend_module_attributes(path):
    """Names read from the backend module (``B.name``, ``backend.name``)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("B", "backend")):
            yield node.attr


@pytest.mark.parametrize("module", COMPUTE)
def test_compute_modules_do_not_reach_numpy_through_the_backend(module):
    """``B.numpy`` (backend.py's own import) would be a side door around ``B.xp``."""
    leaked = set(backend_module_attributes(PACKAGE / f"{module}.py")) & ARRAY_LIBRARIES
    assert not leaked, f"minigan/{module}.py uses backend.{leaked}; use backend.xp instead"


def test_the_checker_bites(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom numpy import exp\nB.numpy.exp(B.xp.ones(2))\n")
    assert {"numpy"} <= set(imported_modules(bad))
    assert "numpy" in set(backend_module_attributes(bad))


LAYERS = ["backend", "tensor", "functional", "nn", "optim", "divergences", "gan", "train"]


@pytest.mark.parametrize("module", [m for m in LAYERS if (PACKAGE / f"{m}.py").exists()])
def test_imports_flow_downwards(module):
    rank = LAYERS.index(module)
    above = set(LAYERS[rank + 1:])
    imports = {name.lstrip(".").split(".")[0] for name in imported_modules(PACKAGE / f"{module}.py")
               if name.startswith(".")}
    assert not imports & above, f"minigan/{module}.py imports upwards: {imports & above}"
