"""The docs must be true for the real API, and every chapter must have the course's shape.

Chapters (``docs/chapters/NN-name.md``) are MyST-NB text notebooks. For each of the sixteen:

* its code cells run, in order, as one plain Python script in a fresh interpreter -- exercise
  solutions included -- and every solution cell checks its answer with an ``assert``;
* it has the headings of the chapter format (``/work/wt/_briefs/CHAPTER_FORMAT.md``): a numbered
  title, the "In this chapter" box (what you will learn, what you need first, the video to watch),
  Exercises (3 to 5, each followed by its hidden solution), Summary and Read next (with real
  links into the API);
* at least one cell draws a figure, and chapters 1-7 and 10-16 link the 3Blue1Brown video they follow.

A chapter that does not exist fails its tests (the course has sixteen). The other pages (home,
install, quick start, glossary, going further, performance) keep plain ```python blocks, which run
here in order in one namespace; a block may opt out with a first line ``# doc-test: skip``.
``micrograd-plus ...`` commands in ```bash blocks must parse with the real command line.
"""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHAPTERS = [
    "01-neuron", "02-layers", "03-cost", "04-gradient-descent", "05-backprop", "06-sgd",
    "07-mnist", "08-tensors", "09-checking-gradients", "10-language-models",
    "11-tokens-embeddings", "12-attention", "13-mlp-block", "14-counting-weights",
    "15-training-sampling", "16-rlhf",
]
#: Chapters that follow a 3Blue1Brown video (8 and 9 are this library's own detours).
VIDEO_CHAPTERS = [c for c in CHAPTERS if int(c[:2]) not in (8, 9)]
OTHER_PAGES = [DOCS / name for name in ("index.md", "install.md", "quickstart.md", "glossary.md", "pytorch-differences.md",
                                        "going-further.md", "chapters/performance.md")]
SKIP_MARK = "# doc-test: skip"


def chapter_path(name):
    path = DOCS / "chapters" / f"{name}.md"
    assert path.is_file(), f"chapter {path.relative_to(ROOT)} does not exist (the course has 16 chapters)"
    return path


# ---- reading a MyST-NB text notebook ---------------------------------------------------------------

_CODE_CELL = re.compile(r"^(?P<fence>`{3,})\{code-cell\}[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                        re.MULTILINE | re.DOTALL)


def code_cells(text):
    """``[(line, source, tags), ...]`` for the ``{code-cell}`` blocks of a MyST-NB text notebook.

    ``line`` is the 1-based line of the cell's first source line; options (``:tags: [...]`` lines
    or a ``---`` YAML block at the top of the cell) are parsed for their tags and left out of the source.
    """
    cells = []
    for m in _CODE_CELL.finditer(text):
        body = m.group("body")
        lines = body.splitlines(keepends=True)
        tags, skip = [], 0
        if lines and lines[0].strip() == "---":
            end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
            if end is not None:
                options = "".join(lines[1:end])
                tm = re.search(r"tags:\s*\[([^\]]*)\]", options)
                tags = [t.strip().strip("'\"") for t in tm.group(1).split(",")] if tm else []
                skip = end + 1
        else:
            while skip < len(lines) and re.match(r"^:\w[\w-]*:", lines[skip]):
                tm = re.match(r"^:tags:\s*\[([^\]]*)\]", lines[skip])
                if tm:
                    tags = [t.strip().strip("'\"") for t in tm.group(1).split(",") if t.strip()]
                skip += 1
        line = text.count("\n", 0, m.start()) + 2 + skip
        cells.append((line, "".join(lines[skip:]), tags))
    return cells


def sections(text):
    """``{heading: text of its section}`` for the ``## `` headings of a page (code cells included)."""
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_code_cell_parser_on_a_sample():
    text = ("---\nfile_format: mystnb\n---\n\n# 1. T\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
            "```{code-cell} ipython3\n:tags: [hide-cell]\n# Solution 1\nassert x == 1\n```\n\n"
            "````{code-cell} ipython3\n---\ntags: [remove-cell, hide-input]\n---\ny = 2\n````\n"
            "```python\nnot a cell\n```\n")
    cells = code_cells(text)
    assert [(line, tags) for line, _, tags in cells] == [(8, []), (13, ["hide-cell"]), (21, ["remove-cell", "hide-input"])]
    assert cells[1][1] == "# Solution 1\nassert x == 1\n"
    assert text.splitlines()[cells[2][0] - 1] == "y = 2"


# ---- every chapter's code runs, as a script, in a fresh interpreter ------------------------------------

_RUNNER = r'''
import json, sys
cells = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__"}
for cell in cells:
    exec(compile(cell["source"], f"{cell['file']}:{cell['line']}", "exec"), namespace)
'''


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_code_runs_as_a_script(chapter, tmp_path):
    """All code cells of the chapter, solutions included, in order, in one fresh ``python``."""
    cells = code_cells(chapter_path(chapter).read_text(encoding="utf-8"))
    assert cells, f"{chapter}: no code cells"
    cells_file = tmp_path / "cells.json"
    cells_file.write_text(json.dumps([{"file": f"docs/chapters/{chapter}.md", "line": line, "source": source}
                                      for line, source, _ in cells]), encoding="utf-8")
    (tmp_path / "runner.py").write_text(_RUNNER, encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "MICROGRAD_PLUS_NO_PROGRESS": "1",
           "MATPLOTLIBRC": str(DOCS / "_ext" / "matplotlibrc"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    work = tmp_path / "cwd"
    work.mkdir()                                   # a cell that writes a file writes it here
    proc = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(cells_file)], cwd=work,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (f"{chapter}: the code cells failed as a script:\n"
                                  f"{proc.stderr[-3000:]}")


# ---- the shape of a chapter ---------------------------------------------------------------------------

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_the_format(chapter):
    text = chapter_path(chapter).read_text(encoding="utf-8")
    assert re.match(r"---\n(.*\n)*?file_format:\s*mystnb\n(.*\n)*?---\n", text), \
        f"{chapter}: front matter with `file_format: mystnb` missing (the code would not run at build time)"
    number = int(chapter[:2])
    assert re.search(rf"^# {number}\. \S", text, re.MULTILINE), f"{chapter}: title must be '# {number}. ...'"
    box = re.search(r":::\{admonition\} In this chapter\n(.*?)\n:::", text, re.DOTALL)
    assert box, f"{chapter}: no 'In this chapter' admonition"
    for field in ("**You will learn:**", "**You need first:**"):
        assert field in box.group(1), f"{chapter}: the 'In this chapter' box has no {field}"
    heads = re.findall(r"^## +(.+?)\s*$", text, re.MULTILINE)
    for required in ("Exercises", "Summary", "Read next"):
        assert required in heads, f"{chapter}: no '## {required}' heading"
    assert heads.index("Exercises") < heads.index("Summary") < heads.index("Read next"), \
        f"{chapter}: the sections must come as Exercises, Summary, Read next"
    prose = _CODE_CELL.sub("", text)
    assert "\\(" not in prose and "\\[" not in prose, f"{chapter}: write math as $...$ or $$...$$, not \\( \\["


@pytest.mark.parametrize("chapter", VIDEO_CHAPTERS)
def test_chapter_links_its_video(chapter):
    text = chapter_path(chapter).read_text(encoding="utf-8")
    box = re.search(r":::\{admonition\} In this chapter\n(.*?)\n:::", text, re.DOTALL)
    assert box and "**Watch:**" in box.group(1), f"{chapter}: no **Watch:** line in the 'In this chapter' box"
    assert re.search(r"3Blue1Brown[^\n]*\]\(https://(www\.)?(youtube\.com/watch\?v=|youtu\.be/)[\w-]{11}",
                     box.group(1)), f"{chapter}: the Watch line must link a 3Blue1Brown video on YouTube"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_exercises_have_checked_solutions(chapter):
    text = chapter_path(chapter).read_text(encoding="utf-8")
    exercises = sections(text).get("Exercises", "")
    questions = re.findall(r"^\d+\. +\*\*", _CODE_CELL.sub("", exercises), re.MULTILINE)
    assert 3 <= len(questions) <= 5, f"{chapter}: {len(questions)} exercises ('1. **Title.** ...'), expected 3 to 5"
    solutions = [(line, src) for line, src, tags in code_cells(exercises) if "hide-cell" in tags]
    assert len(solutions) == len(questions), (
        f"{chapter}: {len(questions)} exercises but {len(solutions)} solution cells tagged hide-cell")
    for line, src in solutions:
        assert re.search(r"^\s*assert\b", src, re.MULTILINE), \
            f"{chapter}: a solution cell (line {line} of the Exercises section) checks nothing: add an assert"


#: The tiers of the course's exercises, each named at the start of an exercise's title.
TIERS = ("Check", "Derive", "Build", "Experiment")


def exercise_tiers(text):
    """The tier of each exercise of a chapter, in order: ``["Check", "Derive", ...]``."""
    exercises = _CODE_CELL.sub("", sections(text).get("Exercises", ""))
    return re.findall(r"^\d+\. +\*\*(\w+):", exercises, re.MULTILINE)


def test_exercise_tiers_parser_on_a_sample():
    text = "## Exercises\n\n1. **Check: A.** x\n\n2. **Build: B.** y\n\n## Summary\n"
    assert exercise_tiers(text) == ["Check", "Build"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_exercises_are_tiered(chapter):
    """Each exercise says its tier ("1. **Derive: ...**"), and no chapter has only checks."""
    text = chapter_path(chapter).read_text(encoding="utf-8")
    exercises = _CODE_CELL.sub("", sections(text).get("Exercises", ""))
    titles = re.findall(r"^\d+\. +\*\*(.+?)\*\*", exercises, re.MULTILINE)
    tiers = exercise_tiers(text)
    assert len(tiers) == len(titles) and set(tiers) <= set(TIERS), (
        f"{chapter}: every exercise title must start with its tier, one of {', '.join(TIERS)} "
        f"('1. **Check: ...**'); got {titles}")
    assert set(tiers) - {"Check"}, f"{chapter}: at least one exercise must derive, build or experiment"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_draws_a_figure(chapter):
    text = chapter_path(chapter).read_text(encoding="utf-8")
    body = text.split("\n## Exercises")[0]
    drawn = [line for line, src, tags in code_cells(body)
             if re.search(r"\bplt\.show\(\)", src) and "remove-cell" not in tags and "remove-output" not in tags]
    assert drawn, f"{chapter}: no cell before the exercises shows a figure (matplotlib, ending with plt.show())"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_read_next_links_the_source(chapter):
    text = chapter_path(chapter).read_text(encoding="utf-8")
    read_next = sections(text).get("Read next", "")
    links = re.findall(r"\{py:(?:mod|class|func|meth|attr)\}`~?(micrograd_plus[\w.]*)`", read_next)
    assert links, f"{chapter}: 'Read next' must link the source with {{py:mod}}/{{py:class}}/{{py:func}} and full names"


def test_widget_is_included_by_chapter_7():
    text = chapter_path("07-mnist").read_text(encoding="utf-8")
    assert "{include} _digit_widget.md" in text, "chapter 7 must include the interactive figure (_digit_widget.md)"


# ---- the other pages: ```python blocks, run in one namespace per page ------------------------------

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*python[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                    re.MULTILINE | re.DOTALL)


def python_blocks(text):
    """Return ``[(line_number, source), ...]`` for the ```python blocks of a Markdown text."""
    blocks = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 2  # first line of the body, 1-based
        blocks.append((line, m.group("body")))
    return blocks


def test_block_extraction_finds_blocks_and_skip_marks():
    text = "intro\n```python\na = 1\n```\nprose\n```bash\nls\n```\n```python\n# doc-test: skip\nb = 2\n```\n"
    blocks = python_blocks(text)
    assert [line for line, _ in blocks] == [3, 10]
    assert blocks[0][1] == "a = 1\n"
    assert blocks[1][1].startswith(SKIP_MARK)


@pytest.mark.parametrize("page", OTHER_PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_no_python_block_is_missed(page):
    """An indented or oddly fenced block would silently escape the runner: refuse it."""
    assert page.is_file(), f"{page.relative_to(ROOT)} does not exist"
    text = page.read_text(encoding="utf-8")
    openings = len(re.findall(r"^[ \t]*(`{3,}|~{3,})[ \t]*(\{code-block\}[ \t]*)?py(thon)?3?[ \t]*$",
                              text, re.MULTILINE))
    assert openings == len(python_blocks(text)), (
        f"{page.name}: {openings} python fences but {len(python_blocks(text))} runnable blocks; "
        "write python blocks unindented as ```python ... ```")


@pytest.mark.parametrize("page", OTHER_PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_python_blocks_run(page, monkeypatch, tmp_path):
    """Run the page's python blocks in order, in one namespace; report the failing block's line."""
    monkeypatch.chdir(tmp_path)              # a snippet that writes a file writes it here
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MICROGRAD_PLUS_NO_PROGRESS", "1")
    text = page.read_text(encoding="utf-8")
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, source in python_blocks(text):
        if source.lstrip().startswith(SKIP_MARK):
            continue
        code = compile(source, f"{page.relative_to(DOCS)}:{line}", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:  # name the page and line, keep the original traceback
            raise AssertionError(f"{page.relative_to(DOCS)}, block at line {line} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
    for name, check in PAGE_CHECKS.get(page.name, []):
        check(namespace)


def _mlp_weights(sizes):
    """Weights and biases of a fully connected network with these layer sizes, counted by hand."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def test_hand_counts():
    # 2*16+16 + 16*16+16 + 16*1+1 = 48 + 272 + 17
    assert _mlp_weights([2, 16, 16, 1]) == 337
    # 784*16+16 + 16*16+16 + 16*10+10 = 12560 + 272 + 170
    assert _mlp_weights([784, 16, 16, 10]) == 13_002


def _check_quickstart(ns):
    # The quick start trains the video's 784-16-16-10 network: counted by hand.
    assert ns["model"].num_parameters() == _mlp_weights([784, 16, 16, 10]) == 13_002
    assert 0.5 < ns["accuracy"] <= 1.0                          # far above 10% guessing
    assert abs(ns["y"].data - math.tanh(2.0 * -3.0 + 1.0)) < 1e-12  # the Value example, by hand
    assert abs(ns["w"].grad - (1 - math.tanh(-5.0) ** 2) * 2.0) < 1e-12     # (1 - y^2) x
    assert abs(ns["x"].grad - (1 - math.tanh(-5.0) ** 2) * -3.0) < 1e-12    # (1 - y^2) w
    assert ns["loss"].item() < math.log(2)                     # the PyTorch-style loop learned something


def _check_performance(ns):
    assert ns["out"].shape == (1, 2, 8, 4)
    q = ns["q"][0]                                             # (H, T, D), plain numpy below
    scores = q @ q.transpose(0, 2, 1) * 0.5                    # (H, T, T)
    scores = np.where(np.tril(np.ones((8, 8), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(ns["out"][0], weights @ q, rtol=1e-6, atol=1e-8)


PAGE_CHECKS = {
    "quickstart.md": [("Value gradient by hand, 13,002 parameters", _check_quickstart)],
    "performance.md": [("attention kernel", _check_performance)],
}


def test_page_checks_name_real_pages():
    assert set(PAGE_CHECKS) <= {p.name for p in OTHER_PAGES}


# ---- links from the docs to the gallery -------------------------------------------------------
# The docs build is not part of the test run, so check here that every gallery page the docs
# link to (sphinx-gallery's label ``sphx_glr_auto_examples_<file>``) has its example file.

EXAMPLES = ROOT / "examples"


def _all_pages():
    return [p for p in [*OTHER_PAGES, *sorted((DOCS / "chapters").glob("*.md"))] if p.is_file()]


def test_gallery_links_point_at_existing_examples():
    sources = [*_all_pages(), DOCS / "api.rst", *sorted((DOCS / "api").glob("*.rst")), EXAMPLES / "GALLERY_HEADER.rst"]
    linked = set()
    for path in sources:
        linked |= set(re.findall(r"sphx_glr_auto_examples_(plot_\w+\.py)", path.read_text(encoding="utf-8")))
    assert len(linked) >= 8, linked
    missing = sorted(name for name in linked if not (EXAMPLES / name).is_file())
    assert not missing, f"docs link to gallery pages whose example file does not exist: {missing}"


def test_reading_order_names_existing_examples():
    text = (DOCS / "_ext" / "gallery_order.py").read_text(encoding="utf-8")
    listed = re.findall(r'"(plot_\w+\.py)"', text)
    assert listed, "READING_ORDER is empty"
    missing = sorted(name for name in listed if not (EXAMPLES / name).is_file())
    assert not missing, f"docs/_ext/gallery_order.py lists examples that do not exist: {missing}"


# ---- commands shown in the docs ---------------------------------------------------------------
# ``micrograd-plus ...`` lines in ```bash blocks must parse with the real command line (parsing
# only: nothing is trained or downloaded).

_BASH = re.compile(r"^(?P<fence>`{3,})[ \t]*(bash|sh|console)[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                   re.MULTILINE | re.DOTALL)


def _doc_commands():
    commands = []
    for page in _all_pages():
        for m in _BASH.finditer(page.read_text(encoding="utf-8")):
            for line in m.group("body").splitlines():
                for part in line.split("&&"):
                    part = part.split(" #")[0].strip()
                    if part.startswith("micrograd-plus"):
                        commands.append((page.name, part))
    return commands


def test_docs_show_commands():
    assert len(_doc_commands()) >= 4


@pytest.mark.parametrize("page,command", _doc_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_documented_command_parses(page, command):
    import shlex

    from micrograd_plus._plumbing.cli import build_parser

    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports the problem on stderr and exits
        raise AssertionError(f"{page}: `{command}` does not parse (exit {exc.code})") from None
    assert getattr(args, "_run", None) is not None, f"{page}: `{command}` names no runnable command"
