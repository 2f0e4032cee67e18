"""Every chapter as a Jupyter notebook: one ``.ipynb`` per chapter and a zip of them all.

Chapters are MyST-NB text notebooks (``docs/chapters/NN-name.md`` with ``file_format: mystnb`` in
their front matter). At build time this extension

1. converts each of them into ``<site>/notebooks/NN-name.ipynb`` (code cells and markdown as
   written, no outputs: running it is the point), plus ``<site>/notebooks/micrograd_plus-chapters.zip``
   with all of them;
2. puts a line with the two download links right under the title of every chapter page, so chapter
   authors do nothing.

A downloaded notebook must run, and read, without the docs toolchain, so the conversion
(:func:`plain_markdown`, :func:`plain_code`) leaves nothing of MyST or Sphinx behind:

* numbers the site writes into the prose (``{glue:text}`key:.2f```) become the text the build
  computed (read from MyST-NB's ``<name>.glue.json``);
* ``{doc}`` references to another chapter become links to its notebook (``07-mnist.ipynb``, in the
  same folder when the zip is unpacked); API references (``{py:class}`~micrograd_plus.nn.Linear```)
  become the name in code type; ``{ref}`` references become their section's title;
* ``:::{admonition}`` boxes become Markdown blockquotes;
* ``from myst_nb import glue`` becomes a three-line ``glue`` that prints the value, so a notebook
  never imports the docs toolchain (``tests/test_notebooks.py`` runs every built notebook in a
  kernel where only the ``plot`` extra is installed).

The notebooks start with a short cell saying where they come from and how to install the library.
"""

import json
import posixpath
import re
import zipfile
from pathlib import Path

from docutils import nodes

NOTEBOOK_DIR = "notebooks"
ZIP_NAME = "micrograd_plus-chapters.zip"
_CHAPTER = re.compile(r"^\d\d-[\w-]+\.md$")

INSTALL_LINE = 'pip install -e ".[plot]" jupyter'
_PREAMBLE = (
    "> This notebook is a chapter of the micrograd_plus course (`docs/chapters/{name}.md` in the\n"
    "> repository). To run it, install the library with its plotting extra and Jupyter -- in a\n"
    "> clone of the repository:\n"
    ">\n"
    "> ```bash\n"
    "> python3 -m venv .venv && . .venv/bin/activate && " + INSTALL_LINE + "\n"
    "> ```\n"
    ">\n"
    "> then open this file with `jupyter lab` (the other chapters' notebooks, linked from the text,\n"
    "> are in the same zip). Numbers written into the text are those of the run that built the\n"
    "> course site; running the cells prints your own."
)

# Replaces ``from myst_nb import glue`` in a notebook's code: same call, prints instead of gluing.
_GLUE_STANDIN = (
    "def glue(name, value, display=False):\n"
    "    \"\"\"On the course site this value is written into the text; here it is printed.\"\"\"\n"
    "    print(f\"{name} = {value}\")"
)
_GLUE_IMPORT = re.compile(r"^(?P<indent>[ \t]*)from myst_nb import glue[ \t]*$", re.MULTILINE)

_ROLE = re.compile(r"\{(?P<role>[a-z][\w:-]*)\}`(?P<content>[^`]*)`")
_TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)


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


# ---- MyST -> plain Markdown -----------------------------------------------------------------------

def _format_glue(text_plain, fmt_spec):
    """A glued value's ``text/plain`` formatted as MyST-NB's ``{glue:text}`` role formats it."""
    import ast

    try:
        value = ast.literal_eval(text_plain)        # the repr of a number or a string
    except (SyntaxError, ValueError):
        value = text_plain
    if not fmt_spec:
        return str(value)
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


def _role_text(role, content, glue, titles, chapters, here, labels):
    """Plain Markdown for one MyST role (``{role}`content```)."""
    if role == "glue:text":
        key, _, fmt_spec = content.rpartition(":") if ":" in content else (content, "", "")
        if key not in glue:
            raise KeyError(f"{{glue:text}}`{content}`: no glued value named {key!r} "
                           f"(the chapter's code did not glue it)")
        return _format_glue(glue[key], fmt_spec)
    titled = _TITLED.match(content)
    title, target = (titled.group("title"), titled.group("target")) if titled else (None, content)
    if role == "doc":
        docname = posixpath.normpath(posixpath.join(posixpath.dirname(here), target))
        text = title or titles.get(docname, posixpath.basename(docname))
        if docname in chapters:
            return f"[{text}]({posixpath.basename(docname)}.ipynb)"
        return f"*{text}* (on the course site)"
    if role.startswith("py:") or role in ("mod", "class", "func", "meth", "attr", "data"):
        if title:
            return f"`{title}`"
        return f"`{target.split('.')[-1]}`" if target.startswith("~") else f"`{target}`"
    if role == "ref":
        docname, section = labels.get(target, (None, target))
        if docname == here:
            return f"*{title or section}* (in this notebook)"
        if docname in chapters:
            return f"[{title or section}]({posixpath.basename(docname)}.ipynb)"
        return f"*{title or section}* (on the course site)"
    if role == "math":
        return f"${content}$"
    return f"`{content}`"                      # any other role: its text, in code type


def _admonitions_to_quotes(text):
    """``:::{admonition} Title`` ... ``:::`` (and ``:::{note}`` etc.) as Markdown blockquotes."""
    out, lines, i = [], text.split("\n"), 0
    opening = re.compile(r"^(?P<fence>:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<title>.*)$")
    while i < len(lines):
        m = opening.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        fence, name, title = m.group("fence"), m.group("name"), m.group("title").strip()
        i += 1
        while i < len(lines) and re.match(r"^:[\w-]+:", lines[i]):     # options such as :class: tip
            i += 1
        body = []
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i])
            i += 1
        i += 1                                                          # the closing fence
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        heading = title or name.capitalize()
        quoted = [f"> **{heading}**", ">"] + [f"> {line}".rstrip() for line in
                                                _admonitions_to_quotes("\n".join(body)).split("\n")]
        out.extend(quoted)
    return "\n".join(out)


def plain_markdown(text, glue=None, titles=None, chapters=(), here="chapters/x", labels=None):
    """A markdown cell of a chapter as plain Markdown: no MyST roles or directives left.

    Args:
        text: the cell's MyST Markdown.
        glue: ``{key: text/plain}`` of the values the chapter glued (from the executed notebook).
        titles: ``{docname: title}`` of the site's pages (for ``{doc}`` and ``{ref}`` text).
        chapters: the docnames that have a notebook of their own (``chapters/07-mnist``, ...).
        here: the docname of the chapter being converted (``{doc}`` targets are relative to it).
        labels: ``{label: (docname, section title)}`` of the site's ``(label)=`` targets (``{ref}``).
    """
    glue = {} if glue is None else glue
    titles, chapters, labels = titles or {}, set(chapters), labels or {}
    text = re.sub(r"^\([\w-]+\)=[ \t]*\n", "", text, flags=re.MULTILINE)   # (label)= targets
    text = _admonitions_to_quotes(text)
    return _ROLE.sub(lambda m: _role_text(m.group("role"), m.group("content"), glue, titles,
                                          chapters, here, labels), text)


def plain_code(source):
    """A code cell without the docs toolchain: ``from myst_nb import glue`` becomes a printing stand-in."""
    return _GLUE_IMPORT.sub(lambda m: "\n".join(m.group("indent") + line if line else line
                                                for line in _GLUE_STANDIN.split("\n")), source)


def to_notebook(path, glue=None, titles=None, chapters=(), labels=None):
    """Convert one MyST text notebook into an ``nbformat`` notebook (no outputs) that runs as is.

    ``glue``, ``titles`` and ``chapters`` are as in :func:`plain_markdown`; without them a
    ``{glue:text}`` role is an error (a notebook must never show raw markup).
    """
    import jupytext
    import nbformat

    nb = jupytext.read(path, fmt="md:myst")
    here = f"chapters/{Path(path).stem}"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # The interactive figure is HTML for the site; in a notebook the include directive
            # means nothing, so it is cut out of its markdown cell (the prose around it stays).
            if "_digit_widget.md" in cell.source:
                cell.source = re.sub(r"(`{3,}|:{3,})\{include\}\s*_digit_widget\.md\s*\n\1\n?",
                                     "*(The drawing figure runs on this chapter's page of the site.)*\n",
                                     cell.source)
            cell.source = plain_markdown(cell.source, glue, titles, chapters, here, labels)
        elif cell.cell_type == "code":
            cell.source = plain_code(cell.source)
    nb.cells = [c for c in nb.cells if c.cell_type != "markdown" or c.source.strip()]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(_PREAMBLE.format(name=Path(path).stem)))
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _glue_values(app, docname):
    """``{key: text/plain}`` glued by the executed chapter (MyST-NB's ``<docname>.glue.json``)."""
    path = Path(app.outdir).parent / "jupyter_execute" / f"{docname}.glue.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {key: entry.get("data", {}).get("text/plain", "") for key, entry in data.items()}


def write_notebooks(app, exception):
    """``build-finished``: write the notebooks and the zip into the HTML output directory."""
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    out = Path(app.outdir) / NOTEBOOK_DIR
    out.mkdir(parents=True, exist_ok=True)
    titles = {doc: title.astext() for doc, title in app.env.titles.items()}
    labels = {label: (docname, section) for label, (docname, _, section) in
              app.env.get_domain("std").data.get("labels", {}).items() if section}
    sources = chapter_sources(app.srcdir)
    chapters = [doc for doc, _ in sources]
    written = []
    for docname, path in sources:
        target = out / f"{path.stem}.ipynb"
        tmp = target.with_suffix(".ipynb.tmp")
        nb = to_notebook(path, _glue_values(app, docname), titles, chapters, labels)
        nbformat.write(nb, str(tmp))
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
            f' &middot; <a href="../{NOTEBOOK_DIR}/{ZIP_NAME}" download>all chapters (.zip)</a>'
            f' &middot; to run it: <code>{INSTALL_LINE}</code> in a clone of the repository</p>')
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
