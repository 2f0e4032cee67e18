"""PyTorch programs that run twice: once with PyTorch, once with micrograd_plus imported as ``torch``.

Each script in ``tests/pytorch_programs/`` is plain PyTorch code (``import torch``, ``from torch import
nn``, ``import torch.nn.functional as F``, ``from torch.utils.data import ...``) in the idioms the
official tutorials and well-known courses use. Their randomness is taken out (data, weights and
batches come from numpy with fixed seeds), so both libraries compute the same numbers.

* micrograd_plus runs them through a tiny ``torch`` package made in a temporary directory (a
  ``torch/__init__.py`` that hands out ``micrograd_plus`` for ``torch`` and ``micrograd_plus.X`` for
  ``torch.X``); nothing named ``torch`` is shipped.
* When PyTorch is installed, it runs them too, and every line each script printed must agree:
  numbers within a relative 2e-4 (plus 1e-5 absolute), everything else exactly.
* Without PyTorch, the losses each script prints must fall.

The tolerance: the scripts train in float32 (PyTorch's default), whose rounding unit is 6e-8. The two
libraries add in different orders (BLAS and numba kernels against PyTorch's), which moves each
result by a few units of rounding, and tens of training steps compound that to ~1e-6 relative on
the printed losses (on the machine these were written on, all eleven printed the same digits but one,
5.8e-7 apart). A wrong rule -- an update that does not update, a gradient off by a factor, Adam's eps
changed from 1e-8 to 1e-4 -- moves them by 1e-3 or more, and is caught.

A script that computes in float64 may ask for a tighter tolerance with a line ``# dual-run rtol: 1e-10``
(float64's rounding unit is 1e-16, so a float32 rounding anywhere in its path -- 1e-8 -- is then caught).

Both runs go through ``tests/pytorch_programs/_driver.py``: one process per library runs every
script, so the imports are paid once.
"""

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "pytorch_programs"
ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = sorted(p.name for p in HERE.glob("*.py") if not p.name.startswith("_"))
HAVE_TORCH = importlib.util.find_spec("torch") is not None
RTOL, ATOL = 2e-4, 1e-5

SHIM = textwrap.dedent('''\
    """``torch`` for the tests: micrograd_plus under PyTorch's name (``torch.X`` is ``micrograd_plus.X``)."""
    import importlib
    import importlib.abc
    import importlib.util
    import sys

    import micrograd_plus


    class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path=None, target=None):
            return importlib.util.spec_from_loader(name, self) if name.startswith("torch.") else None

        def create_module(self, spec):
            return importlib.import_module("micrograd_plus" + spec.name[len("torch"):])

        def exec_module(self, module):
            pass


    sys.meta_path.insert(0, _Alias())
    sys.modules["torch"] = micrograd_plus
    ''')


def _run(pythonpath, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(HERE / "_driver.py"), *[str(HERE / p) for p in PROGRAMS]],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert "=== results ===" in proc.stdout, f"the driver did not finish:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(proc.stdout.split("=== results ===", 1)[1])


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    shim = tmp_path_factory.mktemp("shim")
    (shim / "torch").mkdir()
    (shim / "torch" / "__init__.py").write_text(SHIM)
    return _run([str(shim), str(ROOT)], tmp_path_factory.mktemp("ours"))


@pytest.fixture(scope="module")
def theirs(tmp_path_factory):
    if not HAVE_TORCH:
        return None
    return _run([], tmp_path_factory.mktemp("theirs"))


def _tokens(out):
    return [line.split() for line in out.splitlines() if line.strip()]


def _number(token):
    try:
        return float(token)
    except ValueError:
        return None


def _rtol(program):
    """The relative tolerance for ``program``: RTOL, or what its ``# dual-run rtol: X`` line asks for."""
    for line in (HERE / program).read_text().splitlines():
        if line.startswith("# dual-run rtol:"):
            return float(line.split(":", 1)[1])
    return RTOL


def _agree(a, b, rtol=RTOL):
    """Compare two scripts' printed lines token by token; returns (problems, largest relative difference)."""
    la, lb = _tokens(a), _tokens(b)
    if len(la) != len(lb):
        return [f"{len(la)} lines printed here, {len(lb)} by PyTorch"], 0.0
    problems, worst = [], 0.0
    for i, (ta, tb) in enumerate(zip(la, lb)):
        if len(ta) != len(tb):
            problems.append(f"line {i}: {' '.join(ta)!r} vs PyTorch's {' '.join(tb)!r}")
            continue
        for x, y in zip(ta, tb):
            fx, fy = _number(x), _number(y)
            if fx is None or fy is None or math.isnan(fx) or math.isnan(fy):
                if x != y:
                    problems.append(f"line {i}: {x!r} vs PyTorch's {y!r}")
            elif not math.isclose(fx, fy, rel_tol=rtol, abs_tol=min(ATOL, rtol)):
                problems.append(f"line {i}: {fx} vs PyTorch's {fy}")
            else:
                worst = max(worst, abs(fx - fy) / max(abs(fy), 1e-12))
    return problems, worst


def _losses(out):
    """The numbers of ``loss <step> <value> ...`` lines (the first value after an integer step)."""
    found = []
    for t in _tokens(out):
        if len(t) >= 3 and t[0] == "loss" and t[1].isdigit() and _number(t[2]) is not None:
            found.append(float(t[2]))
    return found


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_runs_and_agrees_with_pytorch(program, ours, theirs):
    mine = ours[program]
    assert mine["ok"], f"{program} failed with micrograd_plus as torch:\n{mine['error']}"
    losses = _losses(mine["out"])
    if theirs is None:  # no PyTorch here: ours alone must learn
        assert len(losses) < 2 or losses[-1] < losses[0], f"{program}: the losses did not fall: {losses}"
        return
    ref = theirs[program]
    assert ref["ok"], f"{program} failed with PyTorch itself (the script is wrong):\n{ref['error']}"
    problems, _ = _agree(mine["out"], ref["out"], _rtol(program))
    assert not problems, f"{program} disagrees with PyTorch:\n  " + "\n  ".join(problems)
    assert len(losses) < 2 or losses[-1] < losses[0], f"{program}: the losses did not fall: {losses}"


def test_the_comparison_can_fail():
    """A loss off by 1e-3 relative, a changed word or a missing line are all caught; 1e-6 is not."""
    assert _agree("loss 0 1.000000", "loss 0 1.001000")[0]
    assert _agree("same: True", "same: False")[0]
    assert _agree("loss 0 1.0\nloss 1 0.5", "loss 0 1.0")[0]
    assert not _agree("loss 0 1.000001", "loss 0 1.000000")[0]
    assert _agree("loss 0 1.00000001", "loss 0 1.00000000", rtol=1e-10)[0]  # a float64 script's tolerance
    assert _rtol("micrograd_checks.py") == 1e-10
    assert _losses("loss 0 2.5\nloss names a,b\nloss 9 1.5 0.3") == [2.5, 1.5]


def test_no_package_named_torch_is_shipped():
    assert not (ROOT / "torch").exists() and not (ROOT / "micrograd_plus" / "torch").exists()
