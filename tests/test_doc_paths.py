"""What the README, the docs and the docstrings point a reader at exists.

After files move, a stale pointer is the first thing a reader trips over, and nothing else
catches it: Sphinx renders a cross-reference to a missing name as plain text without a warning
(the site is not built nitpicky), and a path in prose is only prose. So:

* every repository path written in the README, the docs pages, the package's source and the
  examples and benchmarks (``micrograd_plus/train/loop.py``, ``docs/chapters/...``) exists;
* every full-name cross-reference, in the docs (``{py:mod}`micrograd_plus.scalar.engine```) and
  in docstrings (``:func:`~micrograd_plus.models.gpt.weight_table```), names something importable;
* every ``automodule``/``autoclass``/``autofunction`` of the API pages does;
* the README's import lines run.
"""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# A repository path: starts with one of the top-level directories, not inside a longer word or
# path (so `runs/mnist/` or `~/.cache/micrograd_plus/mnist` are not taken for one).
PATH = re.compile(r"(?<![\w/.~-])((?:micrograd_plus|docs|examples|tests|benchmarks)/[\w./-]*\w/?)")
# Sphinx roles, reST (:func:`~a.b`, :class:`text <a.b>`) and MyST ({py:mod}`a.b`), full names only.
ROLE = re.compile(r"(?::py)?:(?:mod|class|func|meth|attr|data|exc|obj):`(?:[^`<]*<)?~?(micrograd_plus(?:\.\w+)*)>?`"
                  r"|\{py:(?:mod|class|func|meth|attr|data|exc|obj)\}`(?:[^`<]*<)?~?(micrograd_plus(?:\.\w+)*)>?`")
AUTODOC = re.compile(r"^\.\. auto(?:module|class|function|data|exception)::\s*(\S+)", re.MULTILINE)
BUILT = ("docs/_build",)  # what `sphinx-build` writes: named in the docs, absent until built


def _docs_pages():
    return sorted(p for p in (ROOT / "docs").rglob("*") if p.suffix in (".md", ".rst")
                  and "_build" not in p.parts)


def _sources():
    found = []
    for folder in ("micrograd_plus", "examples"):
        found += sorted((ROOT / folder).rglob("*.py"))
    return found + sorted((ROOT / "micrograd_plus").rglob("*.md"))


def paths_in(text):
    """The repository paths named in ``text`` (see :data:`PATH`), build outputs left out."""
    return [p.rstrip("/.") for p in PATH.findall(text) if not p.startswith(BUILT)]


def resolves(name):
    """Whether a dotted name is a module of the package or an attribute reached from one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def _missing_paths(files):
    missing = []
    for path in files:
        for named in paths_in(path.read_text(encoding="utf-8")):
            if not (ROOT / named).exists():
                missing.append(f"{path.relative_to(ROOT)}: {named}")
    return missing


def test_the_readme_names_files_that_exist():
    named = paths_in(README.read_text(encoding="utf-8"))
    assert len(named) >= 10, named  # the "read" column alone names a dozen
    missing = _missing_paths([README])
    assert not missing, "the README names paths that do not exist:\n  " + "\n  ".join(missing)


def test_docs_pages_name_files_that_exist():
    missing = _missing_paths(_docs_pages())
    assert not missing, "docs pages name paths that do not exist:\n  " + "\n  ".join(missing)


def test_the_source_names_files_that_exist():
    missing = _missing_paths(_sources())
    assert not missing, "docstrings and comments name paths that do not exist:\n  " + "\n  ".join(missing)


def test_cross_references_name_real_objects():
    checked, broken = 0, []
    for path in [*_docs_pages(), *_sources()]:
        for match in ROLE.finditer(path.read_text(encoding="utf-8")):
            name = match.group(1) or match.group(2)
            checked += 1
            if not resolves(name):
                broken.append(f"{path.relative_to(ROOT)}: {name}")
    assert checked >= 100, checked  # the docs' "Read next" sections and the docstrings hold hundreds
    assert not broken, "cross-references to names that do not exist:\n  " + "\n  ".join(broken)


def test_api_pages_document_real_modules():
    names = [(page, name) for page in sorted((ROOT / "docs" / "api").glob("*.rst"))
             for name in AUTODOC.findall(page.read_text(encoding="utf-8"))]
    assert len(names) >= 20, names
    broken = [f"{page.name}: {name}" for page, name in names if not resolves(name)]
    assert not broken, "API pages document names that do not exist:\n  " + "\n  ".join(broken)


def test_the_readme_import_lines_run():
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    imports = [line for line in lines if line.startswith(("from micrograd_plus", "import micrograd_plus"))]
    assert len(imports) >= 4, imports
    for line in imports:
        exec(line, {})


def test_the_install_page_lists_every_extra_with_its_packages():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extras = {name: sorted(re.split(r"[\s<>=!~\[;]", line.strip())[0] for line in value.strip().splitlines()
                           if line.strip() and not line.strip().startswith("#"))
              for name, value in cfg["options.extras_require"].items()}
    text = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    rows = {m[0]: sorted(p.strip() for p in m[1].split(","))
            for m in re.findall(r"^\| `(\w+)` \| ([^|]+) \|", text, re.MULTILINE)}
    assert set(extras) >= {"plot", "test", "docs"}, extras
    assert rows == extras, "docs/install.md's table of extras differs from setup.cfg's extras_require"


# ---- the checks themselves must be able to fail -----------------------------------------------


def test_the_checks_see_a_stale_path_and_a_stale_name():
    text = ("read `micrograd_plus/_tensor.py` and micrograd_plus/viz.py, then docs/chapters/01-neuron.md; "
            "not runs/mnist/ nor ~/.cache/micrograd_plus/mnist; docs/_build/html is built later")
    assert paths_in(text) == ["micrograd_plus/_tensor.py", "micrograd_plus/viz.py", "docs/chapters/01-neuron.md"]
    assert not (ROOT / "micrograd_plus/viz.py").exists()  # viz is a package now: a stale path
    refs = [a or b for a, b in ROLE.findall(
        ":func:`~micrograd_plus.scalar.engine.topological_order`, :meth:`backward <micrograd_plus.Tensor.backward>`, "
        "{py:mod}`micrograd_plus.viz.training`, :class:`micrograd_plus.nn.MLP4`")]
    assert refs == ["micrograd_plus.scalar.engine.topological_order", "micrograd_plus.Tensor.backward",
                    "micrograd_plus.viz.training", "micrograd_plus.nn.MLP4"]
    assert [resolves(r) for r in refs] == [True, True, True, False]
    with pytest.raises(ImportError):
        exec("from micrograd_plus.models.gpt import MLP4", {})
