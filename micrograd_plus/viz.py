"""Draw a computation graph: every value, its gradient, and the operation that produced it.

Backpropagation is a walk back along a graph, so seeing that graph helps. :func:`to_dot`
describes any graph as `Graphviz <https://graphviz.org>`_ DOT text -- plain text that needs
no extra software and that you can paste into an online viewer. :func:`draw` turns it into an
SVG or PNG file with the ``dot`` program, when it is installed::

    from micrograd_plus.scalar import Value
    from micrograd_plus.viz import to_dot, draw

    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    L = (a * b + a).tanh()
    L.backward()
    print(to_dot(L))          # always works
    draw(L, "graph.svg")      # needs Graphviz's `dot` (apt install graphviz)

Each value is a box showing its data and grad; each operation is a small oval pointing into
the value it produced, with arrows from the values it consumed. It works for both engines: a
node needs ``_prev`` (its input nodes), ``_op`` (an operation name, '' for a leaf), ``data``
and ``grad``; tensor nodes also show their ``shape``, and their numbers when there are few.
"""

import os
import shutil
import subprocess
import tempfile

import numpy as np

__all__ = ["to_dot", "draw"]

_MAX_SHOWN = 6  # tensors with at most this many elements have their numbers printed


def _nodes_and_edges(root):
    """All nodes reachable from ``root`` (root first, each once) and the (parent, child) edges.

    An explicit stack instead of recursion: fine for graphs of any depth.
    """
    nodes, edges = [], []
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for parent in node._prev:
            edges.append((parent, node))
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
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


def _label(node):
    lines = []
    name = getattr(node, "label", "") or getattr(node, "name", "")
    if isinstance(name, str) and name:
        lines.append(name)
    shape = getattr(node, "shape", None)
    if shape is not None:
        lines.append(f"shape {tuple(shape)}")
    lines.append(f"data {_fmt(node.data)}")
    lines.append(f"grad {_fmt(node.grad)}")
    return "\\n".join(_escape(line) for line in lines)


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
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".draw-", suffix=f".{format}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(result.stdout)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
