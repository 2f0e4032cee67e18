"""Checks on the BUILT docs site: what a reader gets, read from the HTML files on disk.

Build the site, then point ``MICROGRAD_PLUS_SITE`` at it::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
    MICROGRAD_PLUS_SITE=docs/_build/html python -m pytest -q -m site

Every test here carries the ``site`` marker, which the plain ``pytest -q`` run deselects (see
``addopts`` in setup.cfg: the deselected count is printed); ``.ci/run`` builds the site and runs
them. Selected without ``MICROGRAD_PLUS_SITE`` they fail, saying so: a check of a site that was
not built must not pass.

What is checked, per chapter page: it exists; it shows at least one figure whose file exists;
its Exercises section has 3-5 solutions hidden behind a click (``<details>``); no raw TeX outside
the math containers MathJax typesets; and, for every HTML, CSS and JS file of the site, no asset
(script, style sheet, font, image, frame) is loaded from the network. And the notebooks (one per
chapter and a zip) and the interactive figure's weights exist.
"""

import json
import os
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.site

CHAPTERS = [
    "01-neuron", "02-layers", "03-cost", "04-gradient-descent", "05-backprop", "06-sgd",
    "07-mnist", "08-tensors", "09-checking-gradients", "10-language-models",
    "11-tokens-embeddings", "12-attention", "13-mlp-block", "14-counting-weights",
    "15-training-sampling",
]
OTHER_PAGES = ["index", "install", "quickstart", "glossary", "going-further", "auto_examples/index", "api"]


@pytest.fixture(scope="module")
def site():
    """The built site's directory, from ``MICROGRAD_PLUS_SITE``."""
    value = os.environ.get("MICROGRAD_PLUS_SITE")
    if not value:
        pytest.fail("MICROGRAD_PLUS_SITE is not set: build the site and set it to the HTML directory "
                    "(e.g. MICROGRAD_PLUS_SITE=docs/_build/html)")
    root = Path(value).resolve()
    if not (root / "index.html").is_file():
        pytest.fail(f"MICROGRAD_PLUS_SITE={value}: no index.html there; is that the built HTML directory?")
    return root


def _page(site, name):
    path = site / f"{name}.html"
    assert path.is_file(), f"{path.relative_to(site)} is missing from the built site"
    return path, path.read_text(encoding="utf-8")


def _main_content(html):
    """The page's article (furo puts the page body in ``<article ...>``), without the theme around it."""
    m = re.search(r"<article\b[^>]*>(.*)</article>", html, re.DOTALL)
    assert m, "no <article> element: has the theme changed?"
    return m.group(1)


def _section(html, section_id):
    """The HTML of ``<section id=section_id>`` up to the next sibling section's start."""
    m = re.search(rf'<section id="{section_id}"[^>]*>(.*?)(?=<section id="|</article>)', html, re.DOTALL)
    return m.group(1) if m else None


# ---- pages and figures ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [*OTHER_PAGES, *(f"chapters/{c}" for c in CHAPTERS)])
def test_page_exists(site, name):
    _page(site, name)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_shows_a_figure_that_exists(site, chapter):
    path, html = _page(site, f"chapters/{chapter}")
    body = _main_content(html)
    sources = re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', body)
    found = [src for src in sources if not src.startswith(("http:", "https:", "data:"))
             and (path.parent / src.split("?")[0]).is_file()]
    missing = [src for src in sources if src not in found and not src.startswith("data:")]
    assert not missing, f"{chapter}: images that are not on disk: {missing}"
    inline_svg = len(re.findall(r'<div class="cell_output[^"]*">\s*<div[^>]*>\s*<svg\b', body))
    assert found or inline_svg, f"{chapter}: the page shows no figure (no <img> with a file, no output <svg>)"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_exercises_have_hidden_solutions(site, chapter):
    _, html = _page(site, f"chapters/{chapter}")
    section = _section(html, "exercises")
    assert section is not None, f"{chapter}: no Exercises section on the page"
    hidden = len(re.findall(r"<details\b", section))
    assert 3 <= hidden <= 5, f"{chapter}: {hidden} click-to-open solutions in Exercises, expected 3 to 5"


# ---- math ------------------------------------------------------------------------------------------

class _Text(HTMLParser):
    """Visible text of an HTML fragment, leaving out code, scripts and MathJax's math containers."""

    SKIP = {"script", "style", "pre", "code", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        skip = tag in self.SKIP or ("math" in classes and tag in ("span", "div"))
        if tag in ("br", "img", "hr", "meta", "link", "input", "source", "wbr"):
            return                      # void elements never close
        self.stack.append(skip or (self.stack[-1] if self.stack else False))

    def handle_endtag(self, tag):
        if tag in ("br", "img", "hr", "meta", "link", "input", "source", "wbr"):
            return
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(html):
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\frac|\\partial|\\sum|\\sqrt|\\mathrm|\\top\b|\\cdot")


def test_raw_tex_detector_on_a_sample():
    ok = '<p>fine <span class="math notranslate nohighlight">\\(\\frac{a}{b}\\)</span> text</p><pre>\\frac</pre>'
    bad = '<p>broken \\(\\partial C\\) here and $$x$$</p>'
    assert not RAW_TEX.search(visible_text(ok))
    assert RAW_TEX.findall(visible_text(bad)) == ["\\(", "\\partial", "\\)", "$$", "$$"]


@pytest.mark.parametrize("name", ["index", *(f"chapters/{c}" for c in CHAPTERS)])
def test_no_raw_tex_outside_math(site, name):
    _, html = _page(site, name)
    text = visible_text(_main_content(html))
    hits = sorted({text[max(0, m.start() - 30): m.end() + 30].replace("\n", " ") for m in RAW_TEX.finditer(text)})
    assert not hits, f"{name}: TeX that MathJax will not typeset (outside math containers): {hits[:5]}"


@pytest.mark.parametrize("name", ["chapters/05-backprop", "chapters/12-attention"])
def test_math_pages_load_the_bundled_mathjax(site, name):
    path, html = _page(site, name)
    assert re.search(r'<(span|div) class="math notranslate nohighlight"', html), f"{name}: no math on the page"
    srcs = re.findall(r'<script\b[^>]*\bsrc="([^"]*mathjax[^"]*)"', html)
    assert srcs, f"{name}: math on the page but no MathJax script"
    for src in srcs:
        assert (path.parent / src.split("?")[0]).is_file(), f"{name}: MathJax script {src} is not in the site"


# ---- nothing from the network ------------------------------------------------------------------------

_REMOTE = r"""(?:https?:)?//"""
# HTML: tags whose src/href/srcset/poster/data makes the browser fetch something.
HTML_ASSET = re.compile(
    r"<(?:script|img|iframe|frame|source|audio|video|embed|track|input)\b[^>]*?\b(?:src|srcset|poster|data)\s*=\s*[\"']?\s*" + _REMOTE
    + r"|<object\b[^>]*?\bdata\s*=\s*[\"']?\s*" + _REMOTE
    + r"|<link\b(?![^>]*\brel=[\"']?(?:canonical|author|license)\b)[^>]*?\bhref\s*=\s*[\"']?\s*" + _REMOTE,
    re.IGNORECASE)
# CSS (files, <style> blocks, style="" attributes): url(...) and @import.
CSS_ASSET = re.compile(r"url\(\s*[\"']?\s*" + _REMOTE + r"|@import\s+(?:url\()?\s*[\"']?\s*" + _REMOTE, re.IGNORECASE)
# JavaScript: absolute URLs of loadable files written into the code.
JS_ASSET = re.compile(r"""https?://[^\s"'`()<>]+?\.(?:m?js|css|woff2?|ttf|otf|eot|json|png|jpe?g|gif|svg|webp|wasm)\b""",
                      re.IGNORECASE)
# URLs in bundled JavaScript that are not loaded by the site, each with the reason.
JS_ALLOWED = {
    # MathJax 3 loads this XPath polyfill only in a browser without document.evaluate (Internet
    # Explorer); tests/test_browser.py watches every request and none leaves 127.0.0.1.
    "https://cdn.jsdelivr.net/npm/wicked-good-xpath@1.3.0/dist/wgxpath.install.js",
}


def test_asset_detectors_on_samples():
    assert HTML_ASSET.search('<script src="https://cdn.example.org/x.js"></script>')
    assert HTML_ASSET.search("<link rel=stylesheet href='//fonts.example.org/css'>")
    assert HTML_ASSET.search('<img alt="" src="http://example.org/a.png">')
    assert not HTML_ASSET.search('<a href="https://www.youtube.com/watch?v=aircAruvnKk">video</a>')
    assert not HTML_ASSET.search('<link rel="stylesheet" href="_static/furo.css">')
    assert not HTML_ASSET.search('<link rel="canonical" href="https://example.org/page.html">')
    assert CSS_ASSET.search("@font-face{src:url(https://fonts.example.org/a.woff2)}")
    assert CSS_ASSET.search('@import "https://example.org/x.css";')
    assert not CSS_ASSET.search("background:url(../_static/x.svg)")
    assert JS_ASSET.search('s.src="https://cdn.example.org/lib.min.js"')
    assert not JS_ASSET.search('createElementNS("http://www.w3.org/2000/svg","svg")')


def _site_files(site, *suffixes):
    files = [p for p in site.rglob("*") if p.suffix in suffixes and p.is_file()]
    assert files, f"no {suffixes} files under {site}"
    return files


def test_html_loads_nothing_from_the_network(site):
    problems = []
    for path in _site_files(site, ".html"):
        html = path.read_text(encoding="utf-8", errors="replace")
        for m in [*HTML_ASSET.finditer(html), *CSS_ASSET.finditer(html)]:
            problems.append(f"{path.relative_to(site)}: {html[m.start(): m.end() + 60]!r}")
    assert not problems, "network assets referenced:\n" + "\n".join(problems[:20])


def test_css_loads_nothing_from_the_network(site):
    problems = []
    for path in _site_files(site, ".css"):
        css = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{path.relative_to(site)}: {css[m.start(): m.end() + 60]!r}" for m in CSS_ASSET.finditer(css)]
    assert not problems, "network assets referenced:\n" + "\n".join(problems[:20])


def test_js_loads_nothing_from_the_network(site):
    problems = []
    for path in _site_files(site, ".js"):
        js = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{path.relative_to(site)}: {m.group(0)}" for m in JS_ASSET.finditer(js)
                     if m.group(0) not in JS_ALLOWED]
        problems += [f"{path.relative_to(site)}: {js[m.start(): m.end() + 60]!r}" for m in CSS_ASSET.finditer(js)]
    assert not problems, "network assets referenced:\n" + "\n".join(problems[:20])


# ---- downloads and the interactive figure ----------------------------------------------------------

@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_notebook_exists_and_is_linked(site, chapter):
    nb_path = site / "notebooks" / f"{chapter}.ipynb"
    assert nb_path.is_file(), f"notebooks/{chapter}.ipynb is missing"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{chapter}.ipynb has no code cell"
    _, html = _page(site, f"chapters/{chapter}")
    assert f'href="../notebooks/{chapter}.ipynb"' in html, f"{chapter}: no link to its notebook on the page"


def test_all_notebooks_zip(site):
    path = site / "notebooks" / "micrograd_plus-chapters.zip"
    assert path.is_file(), "notebooks/micrograd_plus-chapters.zip is missing"
    with zipfile.ZipFile(path) as zf:
        names = {Path(n).stem for n in zf.namelist()}
        assert zf.testzip() is None
    assert set(CHAPTERS) <= names, f"chapters missing from the zip: {sorted(set(CHAPTERS) - names)}"


def test_digit_widget_weights(site):
    path = site / "_static" / "digit_weights.js"
    assert path.is_file(), "_static/digit_weights.js (chapter 7's figure) is missing"
    text = path.read_text(encoding="utf-8")
    prefix = "window.MICROGRAD_PLUS_DIGIT_NET = "
    assert text.startswith(prefix)
    net = json.loads(text[len(prefix):].rstrip().rstrip(";"))
    assert net["sizes"] == [784, 16, 16, 10] and net["activation"] == "sigmoid"
    shapes = [(len(layer["W"]), len(layer["W"][0]), len(layer["b"])) for layer in net["layers"]]
    assert shapes == [(16, 784, 16), (16, 16, 16), (10, 16, 10)]
    assert net["test_accuracy"] > 0.85, f"the figure's network reaches only {net['test_accuracy']:.1%}"
    _, html = _page(site, "chapters/07-mnist")
    assert 'class="digit-widget"' in html and "digit_widget.js" in html, "chapter 7 does not include the figure"


@pytest.mark.parametrize("chapter", CHAPTERS + ["performance"])
def test_no_stderr_on_the_page(site, chapter):
    """A page shows what its code printed, never warnings or notices written to stderr."""
    _, html = _page(site, f"chapters/{chapter}")
    found = re.findall(r'class="output stderr[^"]*"><div class="highlight"><pre><span></span>(.{0,160})', html)
    assert not found, f"{chapter}: stderr on the page: {found[:3]}"
