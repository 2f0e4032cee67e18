"""The README's examples run and print what the README says they print.

Every ```python block of ``README.md`` runs, in order, in one namespace (as a reader pasting them
into one session would); what a block prints must be exactly the ```text block that follows it
(or nothing, when no text block follows). So the output shown on the first screen is what the
code prints today, and a change that alters it fails here until the README is updated.
"""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def examples(text):
    """``[(code, expected output or None)]``: each python block, with the text block right after it."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(text)]
    found = []
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        # the output block must follow the code directly (blank lines between them only)
        follows = nxt is not None and nxt[0] == "text" and not text[end:nxt[2]].strip()
        found.append((body, nxt[1] if follows else None))
    return found


def test_the_parser_pairs_code_with_the_output_right_after_it():
    text = ("```python\nprint(1)\n```\n\n```text\n1\n```\n\nprose\n\n```python\nx = 2\n```\n\n"
            "between\n\n```text\nnot this one's\n```\n")
    assert examples(text) == [("print(1)\n", "1\n"), ("x = 2\n", None)]


def test_the_readme_examples_print_what_the_readme_shows():
    found = examples(README.read_text(encoding="utf-8"))
    assert sum(expected is not None for _, expected in found) >= 2, "the README lost its examples"
    namespace = {"__name__": "__readme__"}
    for code, expected in found:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, str(README), "exec"), namespace)
        assert out.getvalue() == (expected or ""), (
            f"README block\n{code}\nprinted\n{out.getvalue()}\nbut the README shows\n{expected}")
