"""Every chapter as a Jupyter notebook: one ``.ipynb`` per chapter and a zip of them all.

Chapters are MyST-NB text notebooks (``docs/chapters/NN-name.md`` with ``file_format: mystnb`` in
their front matter). At build time this extension

1. converts each of them with jupytext into ``<site>/notebooks/NN-name.ipynb`` (code cells,
   markdown and cell tags as written; no outputs: running it is the point), plus
   ``<site>/notebooks/micrograd_plus-chapters.zip`` with all of them;
2. puts a line with the two download links right under the title of every chapter page, so chapter
   authors do nothing.

The notebooks start with a short cell saying where they come from and how to install the library.
"""

import re
import zipfile
from pathlib import Path

from docutils import nodes

NOTEBOOK_DIR = "notebooks"
ZIP_NAME = "micrograd_plus-chapters.zip"
_CHAPTER = re.compile(r"^\d\d-[\w-]+\.md$")

_PREAMBLE = (
    "*This notebook is a chapter of the micrograd_plus course, converted from "
    "`docs/chapters/{name}.md`. Run it with the library installed "
    "(`pip install -e \".[plot]\"` in a clone of the repository) and a Jupyter kernel.*"
)


def chapter_sources(srcdir):
    """The chapter files that are text notebooks: ``[(docname, path), ...]`` in file-name order."""
    found = []
    for path in sorted((Path(srcdir) / "chapters").glob("*.md")):
        if not _CHAPTER.match(path.name):
            continue
        head = path.read_text(encoding="utf-8")[:400]
        if head.startswith("---") and re.search(r"^file_format:\s*mystnb\s*$", head, re.MULTILINE):
            found.append((f"chapters/{path.stem}", path))
    return found


def to_notebook(path):
    """Convert one MyST text notebook into an ``nbformat`` notebook (no outputs)."""
    import jupytext
    import nbformat

    nb = jupytext.read(path, fmt="md:myst")
    # The interactive figure is HTML for the site; in a notebook the include directive means
    # nothing, so it is cut out of its markdown cell (the prose around it stays).
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "_digit_widget.md" in cell.source:
            cell.source = re.sub(r"(`{3,}|:{3,})\{include\}\s*_digit_widget\.md\s*\n\1\n?",
                                 "*(The drawing figure runs on this chapter's page of the site.)*\n", cell.source)
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(_PREAMBLE.format(name=path.stem)))
    nb.metadata.pop("jupytext", None)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3",
                                          "language": "python"})
    return nb


def write_notebooks(app, exception):
    """``build-finished``: write the notebooks and the zip into the HTML output directory."""
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    out = Path(app.outdir) / NOTEBOOK_DIR
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for _, path in chapter_sources(app.srcdir):
        target = out / f"{path.stem}.ipynb"
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(to_notebook(path), str(tmp))
        tmp.replace(target)                       # never a half-written notebook on the site
        written.append(target)
    tmp = out / (ZIP_NAME + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for target in written:
            zf.write(target, arcname=f"micrograd_plus-chapters/{target.name}")
    tmp.replace(out / ZIP_NAME)


def add_download_links(app, doctree, docname):
    """``doctree-resolved``: a download line right under the chapter's title."""
    if docname not in app.env.chapter_notebook_docs:
        return
    sections = list(doctree.findall(nodes.section))
    if not sections:
        return
    section = sections[0]
    stem = docname.split("/")[-1]
    html = (f'<p class="chapter-notebook">Run this chapter yourself: '
            f'<a href="../{NOTEBOOK_DIR}/{stem}.ipynb" download>download it as a notebook (.ipynb)</a>'
            f' &middot; <a href="../{NOTEBOOK_DIR}/{ZIP_NAME}" download>all chapters (.zip)</a></p>')
    title_index = next((i for i, child in enumerate(section.children)
                        if isinstance(child, nodes.title)), -1)
    section.insert(title_index + 1, nodes.raw("", html, format="html"))


def _remember_chapters(app):
    app.env.chapter_notebook_docs = {doc for doc, _ in chapter_sources(app.srcdir)}


def setup(app):
    app.connect("builder-inited", _remember_chapters)
    app.connect("doctree-resolved", add_download_links)
    app.connect("build-finished", write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
