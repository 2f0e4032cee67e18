"""Draw a computation graph: every value, its gradient, and the operation that produced it.

Backpropagation is a walk back along a graph, so seeing that graph helps. :func:`to_dot`
describes any graph as `Graphviz <https://graphviz.org>`_ DOT text -- plain text that needs
no extra software and that you can paste into an online viewer. :func:`draw` turns it into an
SVG or PNG file with the ``dot`` program, when it is installed::

    from micrograd_plus.scalar import Value
    from micrograd_plus.viz import to_dot, draw, plot

    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    L = (a * b + a).tanh()
    L.backward()
    print(to_dot(L))          # always works
    draw(L, "graph.svg")      # needs Graphviz's `dot` (apt install graphviz)
    plot(L)                   # a matplotlib figure, for notebooks and the docs

Each value is a box showing its data and grad; each operation is a small oval pointing into
the value it produced, with arrows from the values it consumed. It works for both engines: a
node needs ``_prev`` (its input nodes), ``_op`` (an operation name, '' for a leaf), ``data``
and ``grad``; tensor nodes also show their ``shape``, and their numbers when there are few.
"""

import os
import shutil
import subprocess

import numpy as np

from micrograd_plus._plumbing.atomic import atomic_write
from micrograd_plus.scalar.engine import topological_order

__all__ = ["to_dot", "draw", "plot"]

_MAX_SHOWN = 6  # tensors with at most this many elements have their numbers printed


def _nodes_and_edges(root):
    """All nodes reachable from ``root`` (root first, each once) and the (input, result) edges.

    The nodes come from the engine's own walk, :func:`~micrograd_plus.scalar.engine.topological_order`
    (inputs first; reversed here so that node ``n0`` is the result), which works for Values and
    Tensors alike and needs no recursion.
    """
    nodes = topological_order(root)[::-1]
    edges = [(parent, node) for node in nodes for parent in node._prev]
    return nodes, edges


def _fmt_number(x):
    return f"{float(x):.4g}"


def _fmt(x):
    """A short text for a float or an array (its numbers if small, else just a summary)."""
    if x is None:
        return "None"
    arr = np.asarray(x)
    if arr.ndim == 0:
        return _fmt_number(arr)
    if arr.size <= _MAX_SHOWN:
        return "[" + ", ".join(_fmt_number(v) for v in arr.reshape(-1)) + "]"
    return f"mean {_fmt_number(arr.mean())}, max|.| {_fmt_number(np.abs(arr).max())}"


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _label_lines(node):
    """The lines shown for a node: its name (if any), shape (tensors), data and grad."""
    lines = []
    name = getattr(node, "label", "") or getattr(node, "name", "")
    if isinstance(name, str) and name:
        lines.append(name)
    shape = getattr(node, "shape", None)
    if shape is not None:
        lines.append(f"shape {tuple(shape)}")
    lines.append(f"data {_fmt(node.data)}")
    lines.append(f"grad {_fmt(node.grad)}")
    return lines


def _label(node):
    """The node's label in DOT syntax: escaped lines joined by DOT's newline, backslash-n."""
    return "\\n".join(_escape(line) for line in _label_lines(node))


def to_dot(root, rankdir="LR"):
    """Describe the computation graph that produced ``root`` in Graphviz's DOT language.

    Args:
        root: a :class:`~micrograd_plus.scalar.Value` or a :class:`~micrograd_plus.Tensor`
            (any object with ``_prev``, ``_op``, ``data`` and ``grad``).
        rankdir: ``"LR"`` draws inputs on the left and the result on the right; ``"TB"``
            draws top to bottom.

    Returns:
        The DOT text (a str). Node names follow the order of the walk, so the same graph
        always gives the same text.
    """
    if not hasattr(root, "_prev") or not hasattr(root, "_op"):
        raise TypeError(
            f"to_dot needs a graph node (a Value or Tensor with _prev and _op), got {type(root).__name__}"
        )
    nodes, edges = _nodes_and_edges(root)
    name = {id(node): f"n{i}" for i, node in enumerate(nodes)}
    out = [
        "digraph computation {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=10];',
    ]
    for node in nodes:
        n = name[id(node)]
        out.append(f'  {n} [shape=box, label="{_label(node)}"];')
        if node._op:
            out.append(f'  {n}_op [shape=ellipse, label="{_escape(str(node._op))}"];')
            out.append(f"  {n}_op -> {n};")
    for parent, child in edges:
        out.append(f"  {name[id(parent)]} -> {name[id(child)]}_op;")
    out.append("}")
    return "\n".join(out) + "\n"


def draw(root, path, format="svg"):
    """Render the graph of ``root`` to an image file with Graphviz's ``dot`` program.

    Args:
        root: a Value or Tensor, as in :func:`to_dot`.
        path: the file to write.
        format: any output format ``dot`` knows: ``"svg"`` (default), ``"png"``, ``"pdf"``.

    Returns:
        ``path``.

    Raises:
        RuntimeError: if the ``dot`` program is not installed (install Graphviz, e.g.
            ``apt install graphviz``; :func:`to_dot` needs nothing) or if it fails. The file
            is only written once ``dot`` has succeeded, never half-written.
    """
    dot_text = to_dot(root)
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(
            "draw() needs the Graphviz program 'dot', which is not installed (on Debian/Ubuntu: "
            "apt install graphviz; on macOS: brew install graphviz). to_dot(root) gives the "
            "graph as DOT text without it."
        )
    result = subprocess.run(
        [program, f"-T{format}"], input=dot_text.encode(), capture_output=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"'dot -T{format}' failed (exit code {result.returncode}): "
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    path = os.fspath(path)
    with atomic_write(path) as f:  # never a half-written picture
        f.write(result.stdout)
    return path


def _levels(nodes):
    """Column of each node (by id): one more than its furthest input; leaves sit just before
    their first use. ``nodes`` is root first, as :func:`_nodes_and_edges` gives them."""
    order = nodes[::-1]  # inputs before the nodes made from them
    level = {}
    for node in order:
        level[id(node)] = 1 + max((level[id(p)] for p in node._prev), default=-1)
    # move each leaf right, to just before the first node that uses it
    first_use = {}
    for node in order:
        for p in node._prev:
            first_use[id(p)] = min(first_use.get(id(p), level[id(node)]), level[id(node)])
    for node in order:
        if not node._prev and id(node) in first_use:
            level[id(node)] = first_use[id(node)] - 1
    return level


def plot(root, ax=None, max_nodes=60):
    """Draw the computation graph of ``root`` with matplotlib (no Graphviz needed).

    Inputs are on the left, the result on the right: each value is a box (label, data, grad)
    in the column of its longest path from the leaves, and each operation a small circle
    just before the value it produced.

    Args:
        root: a Value or Tensor, as in :func:`to_dot`.
        ax: a matplotlib Axes to draw into; a new figure is made when None.
        max_nodes: refuse graphs with more values than this (they become unreadable; use
            :func:`to_dot` and Graphviz for those).

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt  # deferred: matplotlib is optional and slow to import

    nodes, edges = _nodes_and_edges(root)
    if len(nodes) > max_nodes:
        raise ValueError(
            f"plot() draws at most {max_nodes} values and this graph has {len(nodes)}: "
            "pass max_nodes=, or use to_dot()/draw() for big graphs"
        )
    level = _levels(nodes)
    columns = {}
    for node in nodes:
        columns.setdefault(level[id(node)], []).append(node)
    pos = {}
    for col, members in columns.items():
        for row, node in enumerate(members):
            pos[id(node)] = (2.0 * col, -(row - (len(members) - 1) / 2.0))
    if ax is None:
        width = 2.2 * (max(columns) + 1) + 1
        height = 1.3 * max(len(m) for m in columns.values()) + 1
        _, ax = plt.subplots(figsize=(min(width, 14), min(height, 10)))

    box = dict(boxstyle="round,pad=0.3", facecolor="#eef3fb", edgecolor="#4a6fa5")
    circle = dict(boxstyle="circle,pad=0.2", facecolor="#fde8c8", edgecolor="#c07a17")
    arrow = dict(arrowstyle="->", color="#888888", shrinkA=18, shrinkB=10)
    for node in nodes:
        x, y = pos[id(node)]
        ax.text(x, y, "\n".join(_label_lines(node)), ha="center", va="center",
                fontsize=8, bbox=box, zorder=3)
        if node._op:
            ax.text(x - 1.0, y, str(node._op), ha="center", va="center", fontsize=8,
                    bbox=circle, zorder=3)
            ax.annotate("", xy=(x - 0.5, y), xytext=(x - 0.8, y),
                        arrowprops=dict(arrow, shrinkA=0, shrinkB=0))
    for parent, child in edges:
        cx, cy = pos[id(child)]
        ax.annotate("", xy=(cx - 1.0, cy), xytext=pos[id(parent)], arrowprops=arrow)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.6, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    return ax
