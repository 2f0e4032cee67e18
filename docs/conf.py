"""Sphinx configuration for the micrograd_plus docs site.

Build it with ``pip install -e ".[docs]" && sphinx-build -W -b html docs docs/_build/html``.
Every ``examples/plot_*.py`` file is executed by sphinx-gallery and becomes a tutorial page with
its printed output and figures, so the pages can never drift from what the code really does.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))  # gallery_order.py
os.environ.setdefault("MICROGRAD_PLUS_NO_PROGRESS", "1")  # no progress bars in executed examples
os.environ.setdefault("MPLBACKEND", "Agg")

project = "micrograd_plus"
author = "the micrograd_plus developers"
copyright = "2026, the micrograd_plus developers"
release = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
exclude_patterns = ["_build", "_ext", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]

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
    "remove_config_comments": True,
    "within_subsection_order": "gallery_order.ReadingOrder",  # the learning path (docs/_ext)
    # "Examples using X" lists for the API pages and for {minigallery} in the chapters.
    "doc_module": ("micrograd_plus",),
    "backreferences_dir": "gen_modules/backreferences",
}

html_theme = "furo"
html_title = "micrograd_plus"
html_static_path = ["_static"]
