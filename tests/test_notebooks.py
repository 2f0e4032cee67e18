"""The downloadable notebooks: plain Markdown, no docs toolchain, and they run as downloaded.

``docs/_ext/chapter_notebooks.py`` turns every chapter (a MyST-NB text notebook) into a ``.ipynb``
that a reader downloads from the site. Two kinds of checks:

* Fast, in the plain test run: the conversion of every chapter's markdown and code leaves no MyST
  markup (``{glue:text}``, ``{doc}``, ``{py:class}``, ``:::{admonition}``) and no ``myst_nb``
  import behind. No build is needed: the converter's functions run on the chapter sources.
* On the built site (``site`` marker, run by ``.ci/run`` after the docs build, with
  ``MICROGRAD_PLUS_SITE`` set): the notebooks as built, and **every notebook executed, in order of
  its cells, by a Jupyter kernel running in a fresh virtual environment** that has only what a
  reader installs by following the notebook's own first cell: ``pip install -e ".[plot]"`` plus
  the Jupyter kernel packages (``ipykernel``, and ``nbclient`` to drive it). The docs toolchain
  (myst-nb, sphinx) is *not* importable there, which the test checks before running anything.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHAPTERS = sorted(p.stem for p in (DOCS / "chapters").glob("[0-9][0-9]-*.md"))

_spec = importlib.util.spec_from_file_location("chapter_notebooks", DOCS / "_ext" / "chapter_notebooks.py")
chapter_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(chapter_notebooks)

_CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
#: What must never reach a notebook's markdown: MyST roles and directives.
LEFTOVER = re.compile(r"\{(glue|doc|ref|py:\w+|math|term|numref)[:\w]*\}`|^:::|\{admonition\}|\{code-cell\}",
                      re.MULTILINE)


class _AnyGlue(defaultdict):
    """Glued values for a conversion without a build: every key is there, as the number 1."""

    def __init__(self):
        super().__init__(lambda: "1")

    def __contains__(self, key):
        return True


def _markdown_and_code(text):
    """The chapter's markdown (code cells cut out) and its code cells' sources."""
    body = text.split("---", 2)[2] if text.startswith("---") else text        # no front matter
    code = [m.group(2) for m in _CODE_CELL.finditer(body)]
    return _CODE_CELL.sub("", body), code


def test_conversion_on_a_sample():
    text = ("See {doc}`07-mnist` and {doc}`the install page <../install>`, {py:class}`~micrograd_plus.nn.Linear`,"
            " {ref}`sampling` and {ref}`sphx_glr_x.py`,"
            " {py:meth}`Tensor.backward <micrograd_plus.tensor.Tensor.backward>` and {glue:text}`acc:.1f`%"
            " of {glue:text}`n:,` images ({glue:text}`isa`).\n\n"
            ":::{admonition} In this chapter\n:class: tip\n\n**You will learn:** things\n:::\n")
    out = chapter_notebooks.plain_markdown(
        text, glue={"acc": "97.3456", "n": "60000", "isa": "'AVX-512'"},
        titles={"chapters/07-mnist": "7. MNIST", "install": "Installation"},
        chapters=["chapters/07-mnist"], here="chapters/05-backprop",
        labels={"sampling": ("chapters/05-backprop", "Sampling"), "sphx_glr_x.py": ("auto_examples/x", "X")})
    assert "*Sampling* (in this notebook)" in out and "*X* (on the course site)" in out
    assert "[7. MNIST](07-mnist.ipynb)" in out
    assert "*the install page* (on the course site)" in out
    assert "`Linear`" in out and "`Tensor.backward`" in out
    assert "97.3% of 60,000 images (AVX-512)" in out
    assert "> **In this chapter**\n>\n> **You will learn:** things" in out
    assert not LEFTOVER.search(out), out
    code = chapter_notebooks.plain_code("x = 1\nfrom myst_nb import glue\nglue('x', x, display=False)\n")
    assert "myst_nb" not in code
    namespace = {}
    exec(code, namespace)                                  # the stand-in is a working glue(...)
    with pytest.raises(KeyError, match="no glued value named 'missing'"):
        chapter_notebooks.plain_markdown("{glue:text}`missing:.2f`", glue={})


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_converts_to_plain_markdown(chapter):
    markdown, code = _markdown_and_code((DOCS / "chapters" / f"{chapter}.md").read_text(encoding="utf-8"))
    out = chapter_notebooks.plain_markdown(markdown, glue=_AnyGlue(), titles={},
                                           chapters=[f"chapters/{c}" for c in CHAPTERS],
                                           here=f"chapters/{chapter}")
    left = LEFTOVER.findall(out) + re.findall(r"^:::.*$", out, re.MULTILINE)
    assert not left, f"{chapter}: MyST markup left in the notebook's text: {left[:5]}"
    for source in code:
        assert "myst_nb" not in chapter_notebooks.plain_code(source), \
            f"{chapter}: a code cell still imports the docs toolchain after conversion"


# ---- the built notebooks (site marker) ----------------------------------------------------------

@pytest.fixture(scope="module")
def notebooks():
    value = os.environ.get("MICROGRAD_PLUS_SITE")
    if not value:
        pytest.fail("MICROGRAD_PLUS_SITE is not set: build the site and set it to the HTML directory")
    folder = Path(value).resolve() / "notebooks"
    found = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
    assert [p.stem for p in found] == CHAPTERS, f"{folder}: expected one notebook per chapter"
    return found


@pytest.mark.site
def test_built_notebooks_are_plain(notebooks):
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        left = LEFTOVER.findall(markdown)
        assert not left, f"{path.name}: MyST markup in the text: {left[:5]}"
        assert "myst_nb" not in code, f"{path.name}: imports the docs toolchain"
        assert chapter_notebooks.INSTALL_LINE in markdown, f"{path.name}: no install line"


_RUN_ALL = r'''
import json, sys, time
import nbformat
from nbclient import NotebookClient
for name in sys.argv[2:]:
    nb = nbformat.read(name, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": sys.argv[1]}}).execute()
    print(json.dumps({"notebook": name, "seconds": round(time.perf_counter() - start, 1)}), flush=True)
'''


@pytest.mark.site
def test_every_notebook_runs_in_a_fresh_environment_with_only_the_plot_extra(notebooks, tmp_path_factory):
    """Each built notebook, executed top to bottom by a kernel in a new venv: ``.[plot]`` + a kernel.

    Prints the time it took (creating the venv, installing, running), which is what this check
    adds to CI.
    """
    start = time.perf_counter()
    venv = tmp_path_factory.mktemp("reader-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-e", f"{ROOT}[plot]", "ipykernel", "nbclient"], check=True)
    setup_seconds = time.perf_counter() - start
    toolchain = subprocess.run([str(python), "-c", "import myst_nb"], capture_output=True)
    assert toolchain.returncode != 0, "the reader's environment must not have the docs toolchain"
    work = tmp_path_factory.mktemp("reader-cwd")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MPLBACKEND", "MATPLOTLIBRC", "MICROGRAD_PLUS_NO_PROGRESS")}
    proc = subprocess.run([str(python), "-c", _RUN_ALL, str(work), *map(str, notebooks)], cwd=work,
                          env=env, capture_output=True, text=True, timeout=3600)
    ran = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (f"a notebook failed in the reader's environment after "
                                  f"{[r['notebook'] for r in ran]} ran:\n{proc.stderr[-4000:]}")
    assert len(ran) == len(notebooks)
    total = time.perf_counter() - start
    each = ", ".join(f"{Path(r['notebook']).stem[:2]}: {r['seconds']:.0f}" for r in ran)
    print(f"\nnotebooks: venv + install {setup_seconds:.0f} s, running {sum(r['seconds'] for r in ran):.0f} s "
          f"({each}), total {total:.0f} s")
