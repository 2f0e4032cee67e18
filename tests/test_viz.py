"""viz.to_dot, viz.draw and viz.plot (micrograd_plus/viz/graph.py) on Value and Tensor graphs."""

import re
import shutil

import numpy as np
import pytest

from micrograd_plus import viz
from micrograd_plus.scalar import Value


def small_graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    out = (a * b + a).tanh()
    out.backward()
    return a, b, out


def test_dot_text_lists_every_value_op_and_edge():
    a, b, out = small_graph()
    text = viz.to_dot(out)
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    boxes = re.findall(r'n\d+ \[shape=box, label="([^"]*)"\]', text)
    assert len(boxes) == 5  # a, b, a*b, a*b+a, tanh
    ops = re.findall(r'n\d+_op \[shape=ellipse, label="([^"]*)"\]', text)
    assert sorted(ops) == sorted(["*", "+", "tanh"])
    # a feeds both * and +, so 5 edges into op nodes: a, b -> *; (a*b), a -> +; (+) -> tanh
    assert len(re.findall(r"-> n\d+_op;", text)) == 5
    # labels: name, data and grad (d tanh(-4)/da = (1 - tanh(-4)^2) * (b + 1))
    assert any(box.startswith("a\\n") and "data 2\\n" in box for box in boxes)
    grad_a = (1 - np.tanh(-4.0) ** 2) * (-3.0 + 1.0)
    assert f"grad {grad_a:.4g}" in text


def test_dot_text_is_deterministic_and_handles_deep_graphs():
    x = Value(1.0)
    y = x
    for _ in range(5000):  # deeper than Python's recursion limit
        y = y * 1.0
    text = viz.to_dot(y)
    assert text == viz.to_dot(y)
    assert text.count("shape=ellipse") == 5000


def test_labels_are_escaped():
    v = Value(1.0, label='say "hi"')
    assert 'say \\"hi\\"' in viz.to_dot(v)


def test_tensor_graph_shows_shapes():
    mp = pytest.importorskip("micrograd_plus._tensor")
    a = mp.tensor(np.ones((2, 3)), requires_grad=True)
    c = mp.tensor(np.arange(3.0))
    loss = (a * c).sum()
    loss.backward(retain_graph=True)
    text = viz.to_dot(loss)
    assert "shape (2, 3)" in text and "shape (3,)" in text and "shape ()" in text
    assert "data [0, 1, 2]" in text  # small tensors show their numbers
    assert "grad [0, 1, 2, 0, 1, 2]" in text  # d sum(a*c)/da = c broadcast


def test_to_dot_rejects_non_graph_objects():
    with pytest.raises(TypeError, match="graph node"):
        viz.to_dot(3.0)


def test_draw_without_graphviz_names_the_missing_program(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    _, _, out = small_graph()
    target = tmp_path / "g.svg"
    with pytest.raises(RuntimeError, match="'dot'.*graphviz"):
        viz.draw(out, target)
    assert not target.exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_draw_writes_an_svg(tmp_path):
    _, _, out = small_graph()
    path = viz.draw(out, tmp_path / "g.svg")
    assert "<svg" in (tmp_path / "g.svg").read_text()
    assert str(path).endswith("g.svg")


def fake_dot(tmp_path, script):
    """A stand-in for Graphviz's `dot` (a tiny shell script), so draw() is tested without it."""
    program = tmp_path / "fake-dot"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)
    return str(program)


def test_draw_feeds_dot_text_to_the_program_and_writes_its_output(monkeypatch, tmp_path):
    # the fake echoes its format argument and its stdin, so we see exactly what draw() sent
    program = fake_dot(tmp_path, 'echo "format $1"; cat\n')
    monkeypatch.setattr(shutil, "which", lambda name: program if name == "dot" else None)
    _, _, out = small_graph()
    target = tmp_path / "graph.png"
    assert viz.draw(out, target, format="png") == str(target)
    written = target.read_text()
    assert written == "format -Tpng\n" + viz.to_dot(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-dot", "graph.png"]


def test_draw_reports_a_failing_dot_and_writes_nothing(monkeypatch, tmp_path):
    program = fake_dot(tmp_path, 'echo "Error: bad format" >&2; exit 3\n')
    monkeypatch.setattr(shutil, "which", lambda name: program)
    _, _, out = small_graph()
    with pytest.raises(RuntimeError, match="exit code 3.*bad format"):
        viz.draw(out, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_plot_draws_one_box_per_value_and_one_circle_per_op():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, _, out = small_graph()
    ax = viz.plot(out)
    texts = [t.get_text() for t in ax.texts if t.get_text()]  # (arrows are empty texts)
    assert sorted(t for t in texts if not t.startswith(("data", "a\n", "b\n"))) == ["*", "+", "tanh"]
    assert sum("grad" in t for t in texts) == 5
    # inputs left of results: a sits left of the '*' circle, which is left of tanh's box
    x_of = {t.get_text().split("\n")[0]: t.get_position()[0] for t in ax.texts if t.get_text()}
    assert x_of["a"] < x_of["*"] < x_of["+"] < x_of["tanh"]
    plt.close(ax.figure)


def test_plot_refuses_huge_graphs():
    pytest.importorskip("matplotlib")
    y = Value(1.0)
    for _ in range(100):
        y = y + 1.0
    with pytest.raises(ValueError, match="at most 60 values"):
        viz.plot(y)


def test_one_drawing_package_and_one_graph_walk():
    # viz.graph orders nodes with the engine's own walk; viz offers viz.training's pictures.
    from micrograd_plus.scalar.engine import topological_order
    from micrograd_plus.viz import graph, training

    assert graph.topological_order is topological_order
    assert training.plot_digits is viz.plot_digits
    assert set(training.__all__) <= set(viz.__all__)


def test_dot_text_names_the_result_n0_and_orders_inputs_after_it():
    a, b, out = small_graph()
    text = viz.to_dot(out)
    assert 'n0 [shape=box, label="data' in text  # the result (tanh) is node n0
    assert "n0_op [shape=ellipse, label=\"tanh\"]" in text
