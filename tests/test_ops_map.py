"""The docs' map of gradient rules (``docs/_ext/ops_map.py``) lists every op and points at its rule."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import ops_map  # noqa: E402 -- a docs extension, importable from docs/_ext


def test_every_registered_op_has_a_row_pointing_at_its_backward_rule():
    from micrograd_plus.autograd import DIFFERENTIABLE_OPS

    rows = ops_map.rows()
    assert [r[0] for r in rows] == list(DIFFERENTIABLE_OPS)
    for name, path, line, composed, _ in rows:
        text = (ROOT / path).read_text(encoding="utf-8").splitlines()[line - 1]
        if composed:  # the op's own definition (a def, or the decorator's property)
            assert "def " in text, f"{name}: {path}:{line} is not a definition: {text!r}"
        else:  # the rule itself: an inner def or a lambda of g
            assert "def " in text or "lambda" in text, f"{name}: {path}:{line} is not a rule: {text!r}"
    assert sum(not r[3] for r in rows) >= 80  # most ops carry their own rule


def test_the_rule_lines_are_the_ones_a_reader_expects():
    rows = {r[0]: r for r in ops_map.rows()}
    # exp's rule reuses its output: the lambda on the line the map names says so
    _, path, line, composed, _ = rows["exp"]
    assert path == "micrograd_plus/ops/elementwise.py" and not composed
    assert "lambda g" in (ROOT / path).read_text(encoding="utf-8").splitlines()[line - 1]
    # matmul's rule is in its private helper; flatten is a reshape, whose rule applies
    assert rows["matmul"][1] == "micrograd_plus/ops/linalg.py" and not rows["matmul"][3]
    assert rows["flatten"][3]
    table = ops_map.table_rst()
    assert table.startswith(".. list-table::") and "``F.cross_entropy``" in table
