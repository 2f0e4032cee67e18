"""Sphinx configuration for the micrograd_plus docs site.

Build it with ``pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html``.
Every ``examples/plot_*.py`` file is executed by sphinx-gallery and becomes a tutorial page with
its printed output and figures, and every chapter (a MyST-NB text notebook) is executed by a
Jupyter kernel, so the pages can never drift from what the code really does. Both are cached:
unchanged examples and chapters are not run again (docs/_build/.jupyter_cache, the gallery's
md5 files beside its output).

The site reads offline: math is typeset in the browser by the MathJax copy in
``_static/mathjax`` (SVG output, no web fonts), and nothing else is loaded from the network
(``tests/test_site.py`` and ``tests/test_browser.py`` check the built pages).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # gallery_order.py, docs_style.py, the extensions
os.environ.setdefault("MICROGRAD_PLUS_NO_PROGRESS", "1")  # no progress bars in executed examples
# The one-line "compiling the ... kernels (first run only)" notice goes to stderr, and a page must
# not show stderr (tests/test_site.py): whether it appears depends only on the numba cache.
os.environ.setdefault("MICROGRAD_PLUS_QUIET_COMPILE", "1")
# One matplotlib style for every figure (font sizes and dpi that read on a phone): the chapter
# kernels read it through MATPLOTLIBRC when they import matplotlib, the gallery through
# docs_style.reset_matplotlib. MPLBACKEND is not forced here: a kernel must keep its inline
# backend or plt.show() would put no figure on the page (sphinx-gallery selects Agg itself).
os.environ["MATPLOTLIBRC"] = os.path.abspath(os.path.join("_ext", "matplotlibrc"))
if os.environ.get("MPLBACKEND", "").lower() == "agg":
    del os.environ["MPLBACKEND"]

project = "micrograd_plus"
author = "the micrograd_plus developers"
copyright = "2026, the micrograd_plus developers"
release = "0.1.0"

extensions = [
    "myst_nb",               # MyST Markdown + chapters as text notebooks executed at build time
    "sphinx_design",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "chapter_notebooks",     # docs/_ext: every chapter as a .ipynb, and a zip of them all
    "digit_weights",         # docs/_ext: chapter 7's interactive figure's weights, trained here
    "ops_map",               # docs/_ext: the ops-map directive, every gradient rule's file and line
]

# MathJax 3, bundled (docs/_static/mathjax, see its README.txt): TeX in, SVG out, every TeX
# extension built into the one file, so a page typesets its math with no network and no fonts.
mathjax_path = "mathjax/tex-svg-full.js"
mathjax3_config = {
    "loader": {"load": []},
    "svg": {"fontCache": "global"},
}

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "substitution"]


def _build_time_substitutions():
    """The home page's build time, from the measurement file (never a typed number).

    ``python docs/_ext/measure_build.py`` times the README's build command and writes
    ``docs/build_time.json``; the home page quotes it through these MyST substitutions.
    """
    import json
    import statistics

    def minutes(seconds):
        m, s = divmod(int(round(seconds)), 60)
        return f"{m} min {s:02d} s" if m else f"{s} s"

    try:
        record = json.loads(open("build_time.json", encoding="utf-8").read())
        runs = record["from_scratch_seconds"]
        return {
            "build_from_scratch": minutes(statistics.median(runs))
            + (f" (median of {len(runs)} runs, {minutes(min(runs))} to {minutes(max(runs))})" if len(runs) > 1 else ""),
            "build_cached": minutes(record["cached_seconds"]),
            "build_machine": f"{record['cores']}-core {record['machine']} machine ({record['isa']})",
            "build_date": record["date"],
            "build_conditions": (
                f" While it was measured, other processes kept the load average at about "
                + " to ".join(sorted({f"{x:.0f}" for x in record["load_average_at_start"]}, key=float))
                + f" on {record['cores']} cores; the build itself used "
                f"{minutes(statistics.median(record['from_scratch_cpu_seconds']))} of CPU time."
                if "load_average_at_start" in record else ""),
        }
    except (OSError, ValueError, KeyError):   # not measured yet: say so instead of a number
        unknown = "(not measured yet: run python docs/_ext/measure_build.py)"
        return {"build_from_scratch": unknown, "build_cached": unknown,
                "build_machine": "machine", "build_date": "no date", "build_conditions": ""}


def _course_length_substitutions():
    """The home page's length of the course, counted from the chapters (never a typed number).

    Words of prose only: code cells, front matter and formulas are left out; the hours are
    those words at 150 a minute, a careful pace for technical text.
    """
    import glob
    import re

    words = 0
    for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "chapters", "[0-9][0-9]-*.md"))):
        text = open(path, encoding="utf-8").read().split("---", 2)[-1]
        text = re.sub(r"^(`{3,}).*?^\1[ \t]*$", " ", text, flags=re.MULTILINE | re.DOTALL)  # code
        text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.DOTALL)                       # display math
        words += len(re.findall(r"[A-Za-z][A-Za-z'-]*", text))
    return {"course_words": f"{round(words, -3):,}", "course_hours": f"{words / 150 / 60:.0f}"}


myst_substitutions = {**_build_time_substitutions(), **_course_length_substitutions()}
# Chapters are MyST-NB text notebooks (front matter ``file_format: mystnb``): their code cells run
# at build time, so every printed number and figure on a page is what the library really did.
# "cache" re-executes a chapter only when its code changed (jupyter-cache, under docs/_build).
nb_execution_mode = os.environ.get("MICROGRAD_PLUS_NB_EXECUTION", "cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True     # a failing chapter cell fails the build
nb_execution_show_tb = True
nb_merge_streams = True                # one output box per cell, not one per print flush
exclude_patterns = ["_build", "_ext", "_static", "chapters/_*.md",   # _*.md: pieces to include
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    # sphinx-gallery's timing pages load scripts from CDNs (an older build may have
                    # left them behind; write_computation_times below stops new ones)
                    "sg_execution_times.rst", "auto_examples/sg_execution_times.rst"]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = True
# "Attributes:" sections become fields of the class, not separate attribute entries (dataclass
# fields would otherwise be described twice: once by napoleon, once by autodoc).
napoleon_use_ivar = True

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",          # execute every plot_*.py example
    "abort_on_example_error": True,         # a broken example fails the build
    "download_all_examples": False,
    # The computation-times page loads jQuery and DataTables from CDNs: the site must read offline.
    "write_computation_times": False,
    "remove_config_comments": True,
    "within_subsection_order": "gallery_order.ReadingOrder",  # the learning path (docs/_ext)
    # matplotlib's defaults, then the docs style (docs/_ext/matplotlibrc), before every example
    "reset_modules": ("docs_style.reset_matplotlib",),
}

html_theme = "furo"
html_title = "micrograd_plus"
html_static_path = ["_static"]
html_css_files = ["course.css"]


# --- Small build helpers ----------------------------------------------------------------------

def _undo_inline_attribute_type(app, what, name, obj, options, lines):
    """Keep napoleon from reading "D, the width...: ``n // h``" as "type: description".

    For attributes and properties napoleon splits the first docstring line at its first colon,
    renders the left part as a *type* (a ``:type:`` field, at the end) and keeps the rest. Our
    attribute docstrings are sentences, never "type: text", so after napoleon has run we put
    the sentence back together.
    """
    if what not in ("attribute", "property", "data"):
        return
    types = [i for i, line in enumerate(lines) if line.startswith(":type: ")]
    if len(types) != 1 or not lines:
        return
    i = types[0]
    prefix = lines[i][len(":type: "):]
    del lines[i]
    while lines and not lines[-1].strip():
        lines.pop()
    lines[0] = f"{prefix}: {lines[0].lstrip()}" if lines else prefix


# The public names of the library (``micrograd_plus.Tensor``, ``micrograd_plus.scalar.Value``)
# differ from where the API page documents them (``micrograd_plus._tensor.Tensor``, ...).
# Docstrings may use either; this maps a reference that found nothing to the documented name.
_TENSOR_NAMES = ("Tensor", "tensor", "no_grad", "zeros", "ones", "randn", "cat", "stack", "where")


def _documented_name(target):
    if target.startswith("micrograd_plus."):
        rest = target[len("micrograd_plus."):]
        head = rest.split(".")[0]
        if head in _TENSOR_NAMES:
            return "micrograd_plus._tensor." + rest
        return None
    head = target.split(".")[0]
    if head == "Tensor":
        return "micrograd_plus._tensor." + target
    if head == "Value":
        return "micrograd_plus.scalar." + target
    if head in ("nn", "optim", "functional"):
        return "micrograd_plus." + target
    if head == "F":
        return "micrograd_plus.functional." + target[2:]
    return None


def _resolve_public_names(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = _documented_name(node.get("reftarget", ""))
    if target is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, node.get("reftype"), target,
                               node, contnode)


def setup(app):
    app.connect("autodoc-process-docstring", _undo_inline_attribute_type, priority=600)  # after napoleon
    app.connect("missing-reference", _resolve_public_names)
    return {"parallel_read_safe": True}
