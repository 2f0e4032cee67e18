"""The ``ops-map`` directive: every differentiable operation and where its backward rule is.

The list comes from the registry that drives the gradient checks,
:data:`micrograd_plus.autograd.DIFFERENTIABLE_OPS` (an op missing there fails the tests), so the
page is made when the site is built and cannot fall behind the code. For each name the directive
finds the function (a :class:`~micrograd_plus.Tensor` method or property, a function of the tensor
module, or ``F.<name>`` in :mod:`micrograd_plus.functional`) and, in its source, the backward
rule: the function (``def backward(g)``) or lambda handed to ``_result(y, parents, name, backward)``.
An op with no ``_result`` call of its own is built from other ops, whose rules apply; the map
says so and points at the op's definition.

It writes a table of ``op | backward rule at file:line | what it is``. (The lines are plain
``file:line`` text: viewcode's pages have anchors only for the objects the API pages document,
not for each op's inner ``backward``.)

Pure functions (:func:`rows`, :func:`rule_of`) do the work, so the tests can call them without
building the site.
"""

import ast
import importlib
import inspect
import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _resolve(name):
    """The function behind a registry name: ``F.x``, a Tensor method/property, or a tensor-module function."""
    import micrograd_plus  # noqa: F401 -- deferred: the docs build imports the library only when the page is made
    from micrograd_plus import _tensor, functional

    if name.startswith("F."):
        return getattr(functional, name[2:])
    if "." in name:  # e.g. "autograd.Function": a class whose apply records the node
        module, _, attr = name.rpartition(".")
        obj = getattr(importlib.import_module(f"micrograd_plus.{module}"), attr)
        return inspect.unwrap(obj.apply.__func__ if inspect.isclass(obj) else obj)
    attr = inspect.getattr_static(_tensor.Tensor, name, None)
    for cls in _tensor.Tensor.__mro__:  # the class that defines it (the op families are mixins)
        if name in vars(cls):
            attr = vars(cls)[name]
            break
    if attr is None:
        attr = getattr(_tensor, name)
    if isinstance(attr, property):
        attr = attr.fget
    if isinstance(attr, (staticmethod, classmethod)):
        attr = attr.__func__
    return inspect.unwrap(attr)


def _own_rule(fn):
    """``(file, line)`` of the rule handed to a ``_result(...)`` call in ``fn``'s own body, or None."""
    lines, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    path = Path(inspect.getsourcefile(fn)).resolve().relative_to(REPO).as_posix()
    inner = {n.name: n.lineno for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _called(node) == "_result"):
            continue
        rule = node.args[-1] if len(node.args) >= 4 else next(
            (k.value for k in node.keywords if k.arg == "backward"), None)
        if isinstance(rule, ast.Lambda):
            return path, first + rule.lineno - 1
        if isinstance(rule, ast.Name) and rule.id in inner:
            return path, first + inner[rule.id] - 1
        maker = fn.__globals__.get(_called(rule)) if isinstance(rule, ast.Call) else None
        if inspect.isfunction(maker):  # the rule is made by a helper: its inner def
            lines, start = inspect.getsourcelines(maker)
            defs = [n for n in ast.walk(ast.parse(textwrap.dedent("".join(lines)))) if isinstance(n, ast.FunctionDef)]
            where = Path(inspect.getsourcefile(maker)).resolve().relative_to(REPO).as_posix()
            return where, start + (defs[1] if len(defs) > 1 else defs[0]).lineno - 1
    return None


def _called(call):
    """The name a call calls: ``f(...)`` -> "f", ``self.f(...)`` -> "f"."""
    return getattr(call.func, "attr", getattr(call.func, "id", None))


def _private_helpers(fn):
    """The private functions ``fn`` calls (``_matmul(...)``, ``self._flat_gradient(...)``), in order."""
    from micrograd_plus import _tensor  # deferred: see _resolve

    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    found = []
    for node in ast.walk(tree):
        name = _called(node) if isinstance(node, ast.Call) else None
        if not name or not name.startswith("_") or name.startswith("__") or name == "_result":
            continue
        target = fn.__globals__.get(name) if isinstance(node.func, ast.Name) else \
            getattr(_tensor.Tensor, name, None)
        if inspect.isfunction(target):
            found.append(inspect.unwrap(target))
    return found


def rule_of(fn):
    """``(file, line, built_from_ops)``: where ``fn``'s backward rule starts, as a repository path.

    The rule is the last argument of a ``_result(...)`` call: a lambda (its line) or the name of a
    function defined beside it (the line of that ``def``), in ``fn``'s body or in a private helper
    it calls (``_matmul``, ``self._flat_gradient``). Without one, the op is composed of other
    public ops, whose rules apply: the line of ``fn`` itself, and ``built_from_ops`` True.
    """
    for candidate in [fn, *_private_helpers(fn)]:
        found = _own_rule(candidate)
        if found:
            return (*found, False)
    lines, first = inspect.getsourcelines(fn)
    def_line = first + ast.parse(textwrap.dedent("".join(lines))).body[0].lineno - 1  # past the decorators
    return Path(inspect.getsourcefile(fn)).resolve().relative_to(REPO).as_posix(), def_line, True


def rows():
    """One ``(op, file, line, built_from_ops, summary)`` per name in the registry, in its order."""
    # deferred like _resolve: importing these registers the ops of functional and the nn layers
    import micrograd_plus.functional  # noqa: F401
    import micrograd_plus.nn  # noqa: F401
    from micrograd_plus.autograd import DIFFERENTIABLE_OPS

    out = []
    for name in DIFFERENTIABLE_OPS:
        fn = _resolve(name)
        path, line, composed = rule_of(fn)
        doc = (inspect.getdoc(fn) or "").strip().split("\n\n")[0].replace("\n", " ")
        out.append((name, path, line, composed, doc))
    return out


def _cell(text):
    """A docstring's first sentence as plain rST text: roles and literals unwrapped, markup escaped."""
    if not text:
        return "-"
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")
    return re.sub(r"([\\*_|`])", r"\\\1", text)


def table_rst():
    """The map as an rST list-table (the directive parses this)."""
    body = [".. list-table::", "   :header-rows: 1", "   :widths: 18 38 44", "",
            "   * - op", "     - backward rule", "     - what it is"]
    for name, path, line, composed, doc in rows():
        where = f"``{path}:{line}``" + (" (built from other ops)" if composed else "")
        body += [f"   * - ``{name}``", f"     - {where}", f"     - {_cell(doc)}"]
    return "\n".join(body)


def setup(app):
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList
    from docutils import nodes

    class OpsMap(Directive):
        has_content = False

        def run(self):
            container = nodes.container()
            self.state.nested_parse(StringList(table_rst().splitlines(), source="ops-map"), self.content_offset,
                                    container)
            return container.children

    app.add_directive("ops-map", OpsMap)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
