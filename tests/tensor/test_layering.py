"""The tensor engine's imports flow one way: functional -> functions -> tensor -> ops -> autograd.

Read from the source (function-level imports included), so a hidden import inside a function
that points back up fails here."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "micrograd_plus"

# module -> the micrograd_plus modules it may import (anything else of ours is a layering error)
ALLOWED = {
    "autograd": set(),
    "ops.arithmetic": {"autograd"},
    "ops.elementwise": {"autograd", "kernels"},
    "ops.reduce": {"autograd"},
    "ops.shape": {"autograd"},
    "ops.indexing": {"autograd"},
    "ops.linalg": {"autograd", "kernels"},
    "tensor": {"autograd", "ops.arithmetic", "ops.elementwise", "ops.reduce", "ops.shape", "ops.indexing",
               "ops.linalg", "random", "scalar.engine"},  # scalar.engine: the one graph walk, topological_order
    "functions": {"tensor"},
    "functional": {"autograd", "kernels", "ops.indexing", "random", "tensor"},
}


def imports_of(module, package=PACKAGE):
    """The micrograd_plus modules imported anywhere in ``module``'s source (a set of dotted names)."""
    path = package / (module.replace(".", "/") + ".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("micrograd_plus"):
            base = node.module[len("micrograd_plus"):].lstrip(".")
            if base:
                found.add(base)
            else:  # from micrograd_plus import kernels
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name[len("micrograd_plus."):] for a in node.names if a.name.startswith("micrograd_plus."))
    return {name for name in found if not name.startswith("kernels.")} | {"kernels" for name in found if name.startswith("kernels")}


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_imports_flow_one_way(module):
    extra = imports_of(module) - ALLOWED[module]
    assert not extra, f"micrograd_plus/{module.replace('.', '/')}.py imports {sorted(extra)}, against the layering"


def test_every_ops_module_is_listed():
    listed = {m for m in ALLOWED if m.startswith("ops.")}
    on_disk = {"ops." + p.stem for p in (PACKAGE / "ops").glob("*.py") if p.stem != "__init__"}
    assert listed == on_disk


def test_the_check_can_fail(tmp_path):
    """A function-level import back up the stack is caught."""
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "shape.py").write_text("def f():\n    from micrograd_plus.tensor import Tensor\n")
    assert imports_of("ops.shape", tmp_path) - ALLOWED["ops.shape"] == {"tensor"}
