"""The code in the docs must be true for the real API.

Every ```python block in ``docs/index.md`` and ``docs/chapters/*.md`` is executed here. The blocks
of one page run in order in one shared namespace (as a reader would type them into one session).
A block may opt out only by starting with the line ``# doc-test: skip`` (for something long, such
as a full training run). A few figures that the prose quotes are checked too, computed here
independently of the library (by counting weights by hand).
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [DOCS / "index.md", *sorted((DOCS / "chapters").glob("*.md"))]
SKIP_MARK = "# doc-test: skip"

# A fenced block: ``` or ~~~ (3 or more), language "python" (or "{code-cell} python"), then the body.
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


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_no_python_block_is_missed(page):
    """An indented or oddly fenced block would silently escape the runner: refuse it."""
    text = page.read_text(encoding="utf-8")
    openings = len(re.findall(r"^[ \t]*(`{3,}|~{3,})[ \t]*(\{code-block\}[ \t]*)?py(thon)?3?[ \t]*$",
                              text, re.MULTILINE))
    assert openings == len(python_blocks(text)), (
        f"{page.name}: {openings} python fences but {len(python_blocks(text))} runnable blocks; "
        "write python blocks unindented as ```python ... ```")


def test_pages_exist_and_have_code():
    assert len(PAGES) >= 10, PAGES
    total = sum(len(python_blocks(p.read_text(encoding="utf-8"))) for p in PAGES)
    assert total >= 8, f"only {total} python blocks in the docs"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
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


# ---- figures quoted in the prose, checked against the namespace the page's code built ----------

def _mlp_weights(sizes):
    """Weights and biases of a fully connected network with these layer sizes, counted by hand."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def test_hand_counts():
    # 2*16+16 + 16*16+16 + 16*1+1 = 48 + 272 + 17
    assert _mlp_weights([2, 16, 16, 1]) == 337
    # 784*16+16 + 16*16+16 + 16*10+10 = 12560 + 272 + 170
    assert _mlp_weights([784, 16, 16, 10]) == 13_002


def _check_neuron(ns):
    assert ns["c"].data == -4.0
    assert ns["a"].grad == -2.0 and ns["b"].grad == 2.0       # b + 1 and a, by hand
    assert "->" in ns["dot"]


def _check_layers(ns):
    assert len(ns["net"].parameters()) == _mlp_weights([2, 16, 16, 1]) == 337
    assert ns["tensor_net"].num_parameters() == 337
    assert ns["tensor_net"].layers[0].weight.shape == (16, 2)


def _check_cost(ns):
    assert abs(ns["loss"].item() - math.log(10)) < 1e-6
    expected = np.full(10, 0.1 / 4)
    expected[3] -= 1 / 4                                      # (softmax - onehot) / N, by hand
    np.testing.assert_allclose(ns["logits"].grad[0], expected, atol=1e-7)
    np.testing.assert_allclose(ns["F"].log_softmax(ns["big"], dim=-1).numpy(), [[0.0, -1000.0]])


def _check_gradient_descent(ns):
    assert ns["model"].num_parameters() == _mlp_weights([784, 16, 16, 10]) == 13_002
    assert ns["loss_after"].item() < ns["loss"].item()         # "a little lower on this batch"


def _check_backprop(ns):
    assert ns["a"].grad == 7.0                                # 2a + 1 at a = 3
    A, W, dZ = ns["A"].numpy(), ns["W"].numpy(), ns["dZ"]
    np.testing.assert_allclose(dZ, A @ W.T, rtol=1e-12)        # b = 0, cost = sum(Z**2)/2
    np.testing.assert_allclose(ns["W"].grad, dZ.T @ A, rtol=1e-10)
    np.testing.assert_allclose(ns["b"].grad, dZ.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(ns["A"].grad, dZ @ W, rtol=1e-10)
    np.testing.assert_array_equal(ns["bias"].grad, np.full(10, 64.0))


def _check_sgd(ns):
    assert len(ns["loader"]) == 3
    for epoch in (ns["epoch_0"], ns["epoch_1"]):
        assert [len(b) for b in epoch] == [4, 4, 2]
        assert sorted(sum(epoch, [])) == list(range(10))      # every example once per epoch
    assert ns["epoch_0"] != ns["epoch_1"]
    assert [yb.tolist() for xb, yb in ns["DataLoader"]((ns["x"], ns["y"]), batch_size=4,
                                                        shuffle=True, seed=0)] == ns["epoch_0"]


def _check_mnist(ns):
    assert ns["images"].shape == (10_000, 28, 28) and ns["labels"].shape == (10_000,)
    assert ns["x"].shape == (10_000, 784) and ns["x"].dtype == np.float32
    assert 0.0 <= ns["x"].min() and ns["x"].max() <= 1.0
    assert ns["model"].num_parameters() == 13_002
    assert ns["scores"].shape == (5, 10)
    # The first test image of MNIST is a 7, the next ones 2, 1, 0, 4 (the published test set).
    assert ns["labels"][:5].tolist() == [7, 2, 1, 0, 4]


def _check_tensors(ns):
    assert ns["W"].grad.shape == (10, 784) and ns["b"].grad.shape == (10,)
    # With W = 0 and b = 0 every class has probability 1/10: db = mean over the batch of
    # (0.1 - onehot(target)), computed here with numpy.
    onehot = np.eye(10)[ns["targets"]]
    np.testing.assert_allclose(ns["b"].grad, (0.1 - onehot).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(ns["fast"], ns["a"] @ ns["c"], rtol=1e-10, atol=1e-10)


def _check_gpt(ns):
    assert ns["tokenizer"].vocab_size == len(set(ns["text"])) == 65
    assert ns["tokenizer"].decode(ns["ids"]) == "ROMEO:"
    assert ns["logits"].shape == (1, 16, 65)
    assert abs(ns["loss"].item() - math.log(65)) < 0.3        # near-uniform guess at init
    assert len(ns["out"]) >= 20
    # Counted by hand for V=65, T=16, one block, C=32, no biases, tied unembedding:
    # token and position embeddings, then per block two LayerNorm weights, the q/k/v and output
    # projections, the 4x MLP; then the final LayerNorm. The unembedding adds nothing (tied).
    V, T, C = 65, 16, 32
    block = 2 * C + C * 3 * C + C * C + C * 4 * C + 4 * C * C
    assert ns["model"].num_parameters() == V * C + T * C + block + C == 14_976
    # 3Blue1Brown's figures for GPT-3 (from the video, not from our code).
    assert ns["table"].total_weights == 175_181_291_520
    assert ns["table"].total_matrices == 27_938


def _check_gradcheck(ns):
    assert ns["caught"] is True


def _check_performance(ns):
    assert ns["out"].shape == (1, 2, 8, 4)
    q = ns["q"][0]                                             # (H, T, D), plain numpy below
    scores = q @ q.transpose(0, 2, 1) * 0.5                    # (H, T, T)
    scores = np.where(np.tril(np.ones((8, 8), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(ns["out"][0], weights @ q, rtol=1e-6, atol=1e-8)


PAGE_CHECKS = {
    "01-neuron.md": [("values and gradients", _check_neuron)],
    "02-layers.md": [("337 parameters", _check_layers)],
    "03-cost.md": [("ln 10 and p - onehot", _check_cost)],
    "04-gradient-descent.md": [("13,002 parameters, one step down", _check_gradient_descent)],
    "05-backprop.md": [("accumulation and broadcasting", _check_backprop)],
    "06-sgd.md": [("batches and seeds", _check_sgd)],
    "07-mnist.md": [("MNIST shapes and 13,002", _check_mnist)],
    "08-tensors.md": [("linear layer gradients", _check_tensors)],
    "15-training-sampling.md": [("tokens, shapes, GPT-3 figures", _check_gpt)],
    "09-checking-gradients.md": [("a wrong gradient is caught", _check_gradcheck)],
    "performance.md": [("attention kernel", _check_performance)],
}


def test_page_checks_name_real_pages():
    names = {p.name for p in PAGES}
    assert set(PAGE_CHECKS) <= names


# ---- links from the docs to the gallery -------------------------------------------------------
# The docs build is not part of the test run, so check here that every gallery page the docs
# link to (sphinx-gallery's label ``sphx_glr_auto_examples_<file>``) has its example file.

EXAMPLES = DOCS.parent / "examples"


def test_gallery_links_point_at_existing_examples():
    sources = [*PAGES, DOCS / "api.rst", *sorted((DOCS / "api").glob("*.rst")), EXAMPLES / "GALLERY_HEADER.rst"]
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
    for page in PAGES:
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

    from micrograd_plus.cli import build_parser

    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse reports the problem on stderr and exits
        raise AssertionError(f"{page}: `{command}` does not parse (exit {exc.code})") from None
    assert getattr(args, "_run", None) is not None, f"{page}: `{command}` names no runnable command"
