"""The package's shape: imports flow one way, and every import hidden in a function says why.

The import graph is built from the source with :mod:`ast` (nothing is imported or run), so it
sees every import a reader sees:

* module-level imports and function-level ones (``def f(): from micrograd_plus import nn``),
* absolute and relative ones (``from .module import Module``),
* ``from package import name`` as an edge to the *submodule* ``package.name`` when there is one
  (``from micrograd_plus import functional as F`` needs ``micrograd_plus/functional.py``),
* ``importlib.import_module("micrograd_plus.x")`` with a literal name.

Then four checks, each failing with the files and lines to look at:

1. no cycle (module-level or function-level: a function-level import that closes a cycle still
   means two modules each need the other, and a reader cannot read either one first);
2. the layering of DESIGN.md: nothing below ``nn`` imports ``nn``, ``tensor`` never imports
   ``functional``, ``kernels`` imports nothing of the package but ``kernels``, ``scalar`` imports
   nothing of the tensor world, and in general nothing imports a layer above its own; inside the
   tensor layer the order is finer still (:data:`TENSOR_LAYER`: functional -> _methods_as_functions ->
   tensor -> ops -> autograd);
3. a function-level import of the package carries a comment saying why it is not at the top of
   the file -- on its own line, or on a comment line just above it or above the run of import
   statements it belongs to (a comment at the end of an unrelated line of code does not count) -- usually start-up time (numba, matplotlib, the tensor
   world for a scalar-only user);
4. no test takes its oracle from the benchmarks: a test file imports ``micrograd_plus.bench`` only
   when the benchmark is what it tests (``bench`` in its file name). The PyTorch peer that
   ``micrograd-plus bench gpt`` races is the benchmark's; the tests' PyTorch GPT lives in
   ``tests/models/conftest.py``, so changing a benchmark cannot quietly change what a test checks.

Print the graph as an adjacency list (``*`` marks an edge made only by function-level imports)::

    python -m tests.test_layout
"""

import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "micrograd_plus"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
TESTS = Path(__file__).resolve().parent

# The layers of DESIGN.md, bottom (0) to top. A module may import its own layer and the ones
# below, never one above. The first prefix that matches a module's name decides its layer.
# "Tools" that serve every layer (drawing, numerical derivative checks) sit just below `nn`:
# they may look at Values and Tensors, but nothing of nn/models/train.
LAYERS = [
    # (prefix or exact name, layer, what it is)
    ("micrograd_plus._plumbing.cli", 8, "what a person runs"),
    ("micrograd_plus._plumbing.cli_args", 8, "what a person runs"),
    ("micrograd_plus.__main__", 8, "what a person runs"),
    ("micrograd_plus.bench", 8, "what a person runs"),
    ("micrograd_plus.train.mnist_cli", 8, "what a person runs"),
    ("micrograd_plus.train.gpt_cli", 8, "what a person runs"),
    ("micrograd_plus.scalar.demo", 8, "what a person runs"),  # `micrograd-plus moons`
    ("micrograd_plus.rlhf.cli", 8, "what a person runs"),  # `micrograd-plus gpt pairs|reward|rl|dpo`
    ("micrograd_plus.train", 7, "loops, checkpoints"),
    ("micrograd_plus.rlhf", 7, "loops, checkpoints"),  # RLHF's stages, on the one training loop
    ("micrograd_plus.models", 6, "models"),
    ("micrograd_plus.nn", 5, "nn"),
    ("micrograd_plus.optim", 5, "nn"),
    ("micrograd_plus.gradcheck", 4, "tools"),
    ("micrograd_plus.serialization", 4, "tools"),  # torch.save / torch.load without pickle
    ("micrograd_plus.utils", 4, "tools"),  # torch.utils.data: datasets and loaders of Tensors
    ("micrograd_plus.viz", 4, "tools"),
    ("micrograd_plus.functional", 3, "functional"),
    ("micrograd_plus.functional_conv", 3, "functional"),  # convolutions and pooling, F's second half
    ("micrograd_plus._tensor", 2, "tensor"),
    ("micrograd_plus._methods_as_functions", 2, "tensor"),  # torch.exp(x)-style spellings of Tensor methods
    ("micrograd_plus.ops", 2, "tensor"),  # the Tensor's op families (mixins)
    ("micrograd_plus.autograd", 2, "tensor"),  # grad mode, the op registry, dtype rules
    ("micrograd_plus._sampling", 2, "tensor"),  # torch.randint, randperm, multinomial
    ("micrograd_plus._namespace", 2, "tensor"),  # torch.float32 & co., from_numpy, default dtype
    ("micrograd_plus.kernels", 1, "kernels"),
    ("micrograd_plus.scalar", 0, "scalar"),
    ("micrograd_plus.data", 0, "data"),
    ("micrograd_plus.random", 0, "randomness"),
    ("micrograd_plus._device", 0, "devices (the CPU)"),
    ("micrograd_plus._size", 0, "shapes (torch.Size)"),
    ("micrograd_plus.cuda", 0, "devices"),  # torch.cuda.is_available() is False: CPU only
    ("micrograd_plus.accelerator", 0, "devices"),  # torch.accelerator.is_available() is False: CPU only
    ("micrograd_plus.backends", 0, "devices"),
    ("micrograd_plus._plumbing.atomic", 0, "safe file writing"),
    ("micrograd_plus._plumbing.configs", 0, "config dataclasses from JSON"),
    ("micrograd_plus._plumbing", 0, "plumbing"),  # the package itself (a docstring)
]

# The tensor world, which the scalar engine must never need (a reader of chapter 1 should not
# pay for numba, nor read past Tensor to understand Value).
TENSOR_WORLD = ("micrograd_plus._tensor", "micrograd_plus.functional", "micrograd_plus.kernels",
                "micrograd_plus.nn", "micrograd_plus.optim", "micrograd_plus.models",
                "micrograd_plus.train", "micrograd_plus.rlhf", "micrograd_plus.gradcheck")


# Inside the tensor layer, what each module may import of the package (anything else of ours is
# against the layering): autograd (grad mode, the op registry) at the bottom, then the op families,
# then the Tensor that inherits them, then what is built on Tensor. `kernels` stands for any
# kernels module; a module may always import itself.
TENSOR_LAYER = {
    "autograd": set(),
    "ops": set(),
    "ops.arithmetic": {"autograd"},
    "ops.elementwise": {"autograd", "kernels"},
    "ops.reduce": {"autograd"},
    "ops.shape": {"autograd"},
    "ops.indexing": {"autograd"},
    "ops.linalg": {"autograd", "kernels"},
    "ops.inplace": {"autograd", "ops.indexing", "random"},
    # scalar.engine: the one graph walk, topological_order, which Value.backward uses too
    "_tensor": {"autograd", "ops.arithmetic", "ops.elementwise", "ops.reduce", "ops.shape", "ops.indexing",
                "ops.linalg", "ops.inplace", "random", "_device", "_size", "scalar.engine"},
    "_methods_as_functions": {"ops", "_tensor"},
    "functional": {"autograd", "kernels", "ops.indexing", "random", "_tensor", "functional_conv"},
    "functional_conv": {"autograd", "kernels", "random", "_tensor"},
    "_sampling": {"random", "_tensor"},
    "_namespace": {"autograd", "random", "_tensor", "_device"},
}


@dataclass(frozen=True)
class Import:
    """One import statement of the package's own code: who imports what, where, and how."""

    source: str  # the importing module, e.g. "micrograd_plus.nn.layers"
    target: str  # the imported module, e.g. "micrograd_plus.functional"
    path: str  # the importing file, relative to the repository
    line: int
    in_function: bool  # inside a def (runs when the function is called, not at import)
    commented: bool  # a comment on the statement's lines, or a comment line just above its group

    def where(self):
        return f"{self.path}:{self.line}"


# ---------------------------------------------------------------------------------------------
# The graph


def module_files(root=ROOT):
    """``{module name: file}`` for every ``.py`` file of the package (``__init__`` names its package)."""
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _is_under(name, prefix):
    return name == prefix or name.startswith(prefix + ".")


def _within(name, modules):
    """The longest known module that ``name`` is or lies in (``a.b.Thing`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _comment_lines(source):
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            lines.add(tok.start[0])
    return lines


def lazy_names(modules):
    """``{package: {name: module}}`` from the tables of lazily imported names in ``__init__`` files.

    The front door ``micrograd_plus/__init__.py`` lists ``"Tensor"`` under ``"micrograd_plus._tensor"``
    and imports it on first use, so ``from micrograd_plus import Tensor`` is an import of
    ``micrograd_plus._tensor``: a module-level dict from names to a module name (or a tuple that
    starts with one), or from a module name to the names it gives, is read as such a table.
    """
    tables = {}
    for module, path in modules.items():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            value = getattr(node, "value", None)
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(value, ast.Dict):
                continue
            for key, target in zip(value.keys, value.values):
                if isinstance(key, ast.Constant) and key.value in modules:
                    # the other spelling, module -> the names it gives: {"micrograd_plus._tensor": ("Tensor", ...)}
                    for name in ast.walk(target):
                        if isinstance(name, ast.Constant) and isinstance(name.value, str):
                            tables.setdefault(module, {})[name.value] = key.value
                    continue
                if isinstance(target, ast.Tuple) and target.elts:
                    target = target.elts[0]
                if (isinstance(key, ast.Constant) and isinstance(key.value, str)
                        and isinstance(target, ast.Constant) and target.value in modules):
                    tables.setdefault(module, {})[key.value] = target.value
    return tables


def imports_of(module, path, modules, root=ROOT, lazy=None):
    """Every import of the package in one file, as :class:`Import` records."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    comments = _comment_lines(source)
    lines = source.splitlines()
    comment_only = {n for n in comments if lines[n - 1].lstrip().startswith("#")}
    # the line each import statement starts on, by the line it ends on (to walk up a run of imports)
    import_start = {n.end_lineno: n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
    is_package = path.name == "__init__.py"
    rel = str(path.relative_to(root.parent))
    found = []
    named = []  # string constants naming a module of the package (e.g. a table of lazy imports)
    lazy_loader = [False, False]  # does the file call importlib.import_module; inside a function?

    def add(target, node, in_function):
        target = _within(target, modules)
        if target is None:
            return
        last = getattr(node, "end_lineno", node.lineno)
        commented = any(n in comments for n in range(node.lineno, last + 1))
        above = node.lineno - 1
        while not commented and above in import_start:  # an import ends just above: the same run
            above = import_start[above] - 1
        commented = commented or above in comment_only
        found.append(Import(module, target, rel, node.lineno, in_function, commented))

    def resolve_from(node):
        if node.level == 0:
            return node.module or ""
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if _is_under(alias.name, PACKAGE):
                        add(alias.name, child, in_function)
            elif isinstance(child, ast.ImportFrom):
                base = resolve_from(child)
                if _is_under(base, PACKAGE):
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        if sub not in modules:  # a name: a lazily imported one, or the package's own
                            sub = (lazy or {}).get(base, {}).get(alias.name, base)
                        add(sub, child, in_function)
            elif (isinstance(child, ast.Call) and isinstance(child.func, (ast.Attribute, ast.Name))
                  and getattr(child.func, "attr", getattr(child.func, "id", None)) == "import_module"):
                lazy_loader[0] = True
                lazy_loader[1] = lazy_loader[1] or in_function
            elif (isinstance(child, ast.Constant) and isinstance(child.value, str)
                  and child.value in modules and child.value != module):
                named.append(child)
            visit(child, inside)

    visit(tree, False)
    if lazy_loader[0]:
        # A file that hands module names to importlib.import_module imports every module it
        # names in a string literal: `_LAZY = {"Tensor": ("micrograd_plus._tensor", "Tensor")}` is an
        # import that an `import` statement would have shown. It counts for cycles and layers;
        # it is not an import statement, so the comment rule below does not apply to it.
        for node in named:
            found.append(Import(module, node.value, rel, node.lineno, lazy_loader[1], True))
    return found


def import_graph(root=ROOT):
    """All the package's imports of itself: a list of :class:`Import`, file by file."""
    modules = module_files(root)
    lazy = lazy_names(modules)
    edges = []
    for module, path in modules.items():
        edges += imports_of(module, path, modules, root, lazy)
    return modules, edges


def adjacency(edges):
    """``{source: {target: [Import, ...]}}`` -- the graph, with the statements behind each edge."""
    graph = {}
    for imp in edges:
        graph.setdefault(imp.source, {}).setdefault(imp.target, []).append(imp)
    return graph


def cycles(modules, edges):
    """The import cycles, each as a closed path of :class:`Import` records (the last one leads
    back to the first one's source): for every set of modules that all reach each other, a
    shortest cycle through each of its modules that no earlier cycle passed through."""
    graph = adjacency(edges)
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = [0]

    # Tarjan's algorithm, iteratively (no recursion limit to worry about).
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(graph.get(start, {})))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, {}))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, {}):
                        components.append(component)

    found = []
    for component in components:
        uncovered = sorted(component)
        while uncovered:  # a shortest cycle through each module not yet on one
            path = _a_cycle_in(uncovered[0], graph, component)
            found.append(path)
            on_it = {imp.source for imp in path}
            uncovered = [m for m in uncovered if m not in on_it]
    return found


def _a_cycle_in(start, graph, component):
    """A shortest closed path through ``start``, inside its strongly connected component."""
    previous = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for target in sorted(graph.get(node, {})):
                if target not in component:
                    continue
                if target == start:
                    path = [graph[node][target][0]]
                    while previous[node] is not None:
                        path.append(previous[node])
                        node = previous[node].source
                    return list(reversed(path))
                if target not in previous:
                    previous[target] = graph[node][target][0]
                    nxt.append(target)
        frontier = nxt
    raise AssertionError(f"no cycle found through {start}")  # cannot happen in an SCC


def layer_of(module):
    """``(layer number, layer name)`` of a module, from :data:`LAYERS`."""
    for prefix, rank, name in LAYERS:
        if _is_under(module, prefix):
            return rank, name
    if module == PACKAGE:
        return 8, "the package's front door"
    raise KeyError(module)


def layering_problems(edges):
    """One line per import that goes against the layers of DESIGN.md."""
    problems = []
    for imp in edges:
        s, t = imp.source, imp.target
        if s == t or t == PACKAGE and s != PACKAGE:
            # `from micrograd_plus import __version__`: the front door imports nothing eagerly.
            continue
        how = " (in a function)" if imp.in_function else ""
        if _is_under(s, "micrograd_plus.kernels") and not _is_under(t, "micrograd_plus.kernels"):
            problems.append(f"{imp.where()}: kernels must import nothing of the package but kernels; "
                            f"{s} imports {t}{how}")
        elif _is_under(s, "micrograd_plus._tensor") and _is_under(t, "micrograd_plus.functional"):
            problems.append(f"{imp.where()}: tensor must never import functional (functional is built "
                            f"on tensor); {s} imports {t}{how}")
        elif (_is_under(s, "micrograd_plus.scalar") and layer_of(s)[0] == 0
              and any(_is_under(t, w) for w in TENSOR_WORLD)):
            problems.append(f"{imp.where()}: the scalar engine must import nothing of the tensor world; "
                            f"{s} imports {t}{how}")
        elif layer_of(s)[0] < layer_of(t)[0]:
            below = "nothing below nn may import nn; " if _is_under(t, "micrograd_plus.nn") else ""
            problems.append(f"{imp.where()}: {below}{s} ({layer_of(s)[1]}, layer {layer_of(s)[0]}) imports "
                            f"{t} ({layer_of(t)[1]}, layer {layer_of(t)[0]}), a layer above it{how}")
    return problems


def tensor_layer_problems(edges):
    """One line per import of a tensor-layer module that :data:`TENSOR_LAYER` does not allow."""
    problems = []
    for imp in edges:
        source = imp.source.removeprefix(PACKAGE + ".")
        if source not in TENSOR_LAYER:
            continue
        target = imp.target.removeprefix(PACKAGE + ".")
        target = "kernels" if _is_under(target, "kernels") else target
        if target != source and target not in TENSOR_LAYER[source]:
            how = " (in a function)" if imp.in_function else ""
            problems.append(f"{imp.where()}: {source} imports {target}{how}; inside the tensor layer it may "
                            f"import only {sorted(TENSOR_LAYER[source]) or 'nothing of the package'}")
    return problems


def bench_imports_in_tests(tests=TESTS, root=ROOT):
    """Imports of ``micrograd_plus.bench`` in test files that do not test a benchmark (no
    ``bench`` in the file's name), as :class:`Import` records: each one is an oracle taken from
    the benchmarks."""
    modules = module_files(root)
    lazy = lazy_names(modules)
    found = []
    for path in sorted(tests.rglob("*.py")):
        if "bench" in path.stem:
            continue
        name = ".".join(path.relative_to(tests.parent).with_suffix("").parts)
        found += [imp for imp in imports_of(name, path, modules, root, lazy)
                  if _is_under(imp.target, "micrograd_plus.bench")]
    return found


def format_cycle(path):
    chain = " -> ".join([path[0].source] + [imp.target for imp in path])
    steps = "\n".join(
        f"    {imp.where()}: {imp.source} imports {imp.target}"
        f"{' (in a function)' if imp.in_function else ''}"
        for imp in path
    )
    return f"  {chain}\n{steps}"


def format_graph(modules, edges):
    """The graph as text: each module, then what it imports (``*``: only in functions)."""
    graph = adjacency(edges)
    lines = []
    for module in sorted(modules):
        targets = graph.get(module, {})
        shown = []
        for target in sorted(targets):
            if target == module:
                continue
            lazy = all(imp.in_function for imp in targets[target])
            shown.append(target.replace(PACKAGE + ".", "") + ("*" if lazy else ""))
        name = module.replace(PACKAGE + ".", "") if module != PACKAGE else PACKAGE
        lines.append(f"{name} -> {', '.join(shown) if shown else '(nothing of the package)'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The tests


def test_the_import_graph_has_no_cycle():
    modules, edges = import_graph()
    found = cycles(modules, edges)
    assert not found, (
        f"{len(found)} import cycle(s) in {PACKAGE}; each shows the files and lines that close it. "
        "Break one edge of each: move what both need into the lower module, or import the leaf "
        "module instead of its package.\n" + "\n".join(format_cycle(c) for c in found)
    )


def test_imports_follow_the_layers_of_design_md():
    _, edges = import_graph()
    problems = layering_problems(edges)
    assert not problems, f"{len(problems)} import(s) against the layers of DESIGN.md:\n  " + "\n  ".join(problems)


def test_the_tensor_layer_flows_one_way():
    _, edges = import_graph()
    problems = tensor_layer_problems(edges)
    assert not problems, f"{len(problems)} import(s) against the order inside the tensor layer:\n  " + "\n  ".join(problems)


def test_every_tensor_layer_module_is_listed():
    modules, _ = import_graph()
    on_disk = {m.removeprefix(PACKAGE + ".") for m in modules
               if any(_is_under(m, p) for p, rank, _ in LAYERS if rank in (2, 3))}  # tensor, functional
    assert on_disk == set(TENSOR_LAYER), "tests/test_layout.py TENSOR_LAYER must list every module of the tensor layer"


def test_every_function_level_import_of_the_package_says_why():
    _, edges = import_graph()
    silent = [f"{imp.where()}: {imp.source} imports {imp.target}"
              for imp in sorted(edges, key=lambda e: (e.path, e.line, e.target))
              if imp.in_function and not imp.commented and imp.target != imp.source]
    assert not silent, (
        f"{len(silent)} function-level import(s) of the package without a comment saying why it is not at "
        "the top of the file (e.g. '# deferred: numba compiles on import'); move it to the top if "
        "nothing is saved:\n  " + "\n  ".join(silent)
    )


def test_no_test_takes_its_oracle_from_the_benchmarks():
    found = bench_imports_in_tests()
    assert not found, (
        f"{len(found)} import(s) of micrograd_plus.bench in tests that are not about a benchmark; put "
        "the oracle in tests/ (the PyTorch GPT is in tests/models/conftest.py):\n  "
        + "\n  ".join(f"{imp.where()}: {imp.source} imports {imp.target}" for imp in found)
    )


def test_the_command_list_and_help_load_no_numba_model_or_training_code():
    # What the deferred imports of cli.py and the *_cli.py modules are for: `micrograd-plus moons`
    # and every --help start without compiling-library start-up or the tensor engine.
    import subprocess

    heavy = ("numba", "micrograd_plus._tensor", "micrograd_plus.models", "micrograd_plus.train.loop",
             "micrograd_plus.train.gpt_tools")
    # The flags are made from the config dataclasses, so their modules load; they hold no model code
    # (the models package itself is a docstring).
    configs = ("micrograd_plus.models", "micrograd_plus.models.gpt_config")
    code = ("import sys\nfrom micrograd_plus._plumbing.cli import main\n"
            "for argv in ([], ['--help'], ['moons', '--help'], ['mnist', '--help'], ['gpt', '--help'],\n"
            "             ['gpt', 'train', '--help'], ['gpt', 'rl', '--help'],\n"
            "             ['gpt', 'export', '--help'], ['bench', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            f"print(sorted(m for m in sys.modules if (m.split('.')[0] == 'numba' or m.startswith({heavy!r}))\n"
            f"             and m not in {configs!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = out.strip().splitlines()[-1]
    assert loaded == "[]", f"the command list and --help loaded: {loaded}"


def test_every_module_has_a_layer():
    modules, _ = import_graph()
    unplaced = [m for m in modules if m != PACKAGE and not any(_is_under(m, p) for p, _, _ in LAYERS)]
    assert not unplaced, f"modules with no layer in tests/test_layout.py LAYERS: {unplaced}"


# --- the checker itself must be able to fail ---------------------------------------------------


def _fake_package(tmp_path, files):
    root = tmp_path / PACKAGE
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_finds_a_function_level_cycle_and_names_the_files(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "",
        "_tensor.py": "def f():\n    from micrograd_plus import functional  # lazy\n",
        "functional.py": "from micrograd_plus._tensor import Tensor\n",
        "nn/__init__.py": "from .layers import Linear\n",
        "nn/layers.py": "from micrograd_plus.nn.module import Module\n",
        "nn/module.py": "import importlib\nimportlib.import_module('micrograd_plus.nn.layers')\n",
        # the PEP 562 trick: names in a table, imported on first attribute access
        "models/__init__.py": "",
        "models/gpt.py": "from micrograd_plus import data\n",
        "data/__init__.py": ("import importlib\n_LAZY = {'GPT': 'micrograd_plus.models.gpt'}\n"
                             "def __getattr__(name):\n    return importlib.import_module(_LAZY[name])\n"),
    })
    modules, edges = import_graph(root)
    found = cycles(modules, edges)
    texts = sorted(format_cycle(c) for c in found)
    assert len(found) == 3
    assert any("micrograd_plus/data/__init__.py:2: micrograd_plus.data imports micrograd_plus.models.gpt "
               "(in a function)" in t for t in texts)
    assert any("micrograd_plus/_tensor.py:2: micrograd_plus._tensor imports micrograd_plus.functional (in a function)"
               in t for t in texts)
    assert any("micrograd_plus/functional.py:1" in t for t in texts)
    assert any("micrograd_plus/nn/module.py:2: micrograd_plus.nn.module imports micrograd_plus.nn.layers" in t
               for t in texts)
    # `from .layers import Linear` in nn/__init__.py resolved relatively, to the submodule
    assert ("micrograd_plus.nn", "micrograd_plus.nn.layers") in {(e.source, e.target) for e in edges}


def test_the_checker_sees_layering_and_silent_lazy_imports(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "import importlib\n_LAZY = {'Tensor': ('micrograd_plus._tensor', 'Tensor')}\n",
        "scalar/nn.py": "from micrograd_plus import Tensor  # the front door's lazy name\n",
        "_tensor.py": "def f():\n    from micrograd_plus import functional\n",
        "functional.py": "",
        "kernels/__init__.py": "from micrograd_plus._tensor import Tensor\n",
        "scalar/engine.py": "from micrograd_plus.nn import Module\n",
        "nn/__init__.py": "",
        # a comment ending an unrelated line of code is no reason; one above a run of imports is
        "data/text.py": ("def f(x):\n    if x:  # an unrelated remark\n        from micrograd_plus import random\n"
                         "    # deferred: a reason for both\n    from micrograd_plus._plumbing import atomic\n"
                         "    from micrograd_plus._plumbing import configs\n"),
        "random.py": "", "_plumbing/__init__.py": "", "_plumbing/atomic.py": "", "_plumbing/configs.py": "",
    })
    _, edges = import_graph(root)
    problems = "\n".join(layering_problems(edges))
    assert "micrograd_plus/_tensor.py:2: tensor must never import functional" in problems
    assert "micrograd_plus/kernels/__init__.py:1: kernels must import nothing" in problems
    assert "micrograd_plus/scalar/engine.py:1: the scalar engine must import nothing of the tensor world" in problems
    assert ("micrograd_plus/scalar/nn.py:1: the scalar engine must import nothing of the tensor world; "
            "micrograd_plus.scalar.nn imports micrograd_plus._tensor") in problems
    silent = [e for e in edges if e.in_function and not e.commented]
    assert sorted((e.path, e.line) for e in silent) == [("micrograd_plus/_tensor.py", 2), ("micrograd_plus/data/text.py", 3)]


def test_the_checker_sees_an_import_back_up_the_tensor_layer(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "", "autograd.py": "", "_tensor.py": "", "kernels/__init__.py": "",
        "ops/__init__.py": "", "ops/linalg.py": "from micrograd_plus.kernels import matmul\n",
        "ops/shape.py": "from micrograd_plus.autograd import differentiable\n"
                        "def f():\n    from micrograd_plus._tensor import Tensor  # a shortcut\n",
    })
    _, edges = import_graph(root)
    assert tensor_layer_problems(edges) == [
        "micrograd_plus/ops/shape.py:3: ops.shape imports _tensor (in a function); inside the tensor layer it "
        "may import only ['autograd']"]


def test_the_checker_finds_a_test_that_imports_the_benchmarks(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "", "bench/__init__.py": "", "bench/gpt.py": "", "models/gpt.py": "",
    })
    tests = tmp_path / "tests"
    (tests / "models").mkdir(parents=True)
    (tests / "models" / "test_gpt.py").write_text(
        "import numpy\nfrom micrograd_plus.models.gpt import GPT\n\n"
        "def test_it():\n    from micrograd_plus.bench.gpt import torch_gpt\n")
    (tests / "models" / "conftest.py").write_text("from micrograd_plus import bench\n")
    (tests / "test_bench_gpt.py").write_text("from micrograd_plus.bench import gpt\n")  # its subject: allowed
    found = sorted((imp.path, imp.line, imp.target) for imp in bench_imports_in_tests(tests, root))
    assert found == [("tests/models/conftest.py", 1, "micrograd_plus.bench"),
                     ("tests/models/test_gpt.py", 5, "micrograd_plus.bench.gpt")]


def main():
    modules, edges = import_graph()
    print(f"# import graph of {PACKAGE}: {len(modules)} modules, {len(adjacency(edges))} of them import "
          f"the package; '*' = only inside functions")
    print(format_graph(modules, edges))
    found = cycles(modules, edges)
    print(f"# cycles: {len(found)}")
    for c in found:
        print(format_cycle(c))
    problems = layering_problems(edges) + tensor_layer_problems(edges)
    print(f"# against the layers: {len(problems)}")
    for p in problems:
        print("  " + p)
    return 1 if found or problems else 0


if __name__ == "__main__":
    sys.exit(main())


def test_the_front_door_offers_every_name_it_lists():
    # __all__ is derived from the front door's tables: every name in it must import, the function
    # spellings must be the Tensor methods (micrograd_plus.exp(x) is x.exp()), and nothing else leaks.
    import numpy as np

    import micrograd_plus as mp
    from micrograd_plus.ops import METHODS_AS_FUNCTIONS

    missing = [name for name in mp.__all__ if not hasattr(mp, name)]
    assert not missing, f"the front door lists names it cannot import: {missing}"
    assert set(METHODS_AS_FUNCTIONS) | {"Tensor", "nn", "optim", "functional", "pow"} <= set(mp.__all__)
    x = mp.tensor(np.array([0.5, 2.0]))
    for name in ("exp", "sqrt", "sum", "tanh"):
        assert np.array_equal(getattr(mp, name)(x).data, getattr(x, name)().data), name
    assert np.array_equal(mp.pow(2.0, x).data, (2.0 ** x).data)
    with pytest.raises(AttributeError, match="no attribute 'plots'"):
        mp.plots  # the alias of an old name is gone: viz.training is the one name
