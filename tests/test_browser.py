"""The built site in a real browser: images load, math is typeset, the digit figure reacts.

Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium chromium-driver``),
driven by selenium (``pip install -e ".[browser]"``), read the site served by
``python -m http.server`` on 127.0.0.1 (a free port), with the network otherwise untouched::

    MICROGRAD_PLUS_SITE=docs/_build/html python -m pytest -q -m browser

These tests carry the ``browser`` marker, deselected by the plain ``pytest -q`` run and run by
``.ci/run`` after it builds the site. Without chromium they skip, saying why -- except under CI
(``CI=true``), where a missing browser is a failure.

Pages: the home page, chapter 5 and chapter 12 (math) and chapter 7 (the interactive figure).
Every request the browser makes is recorded (Chrome's performance log): none may leave the
local server, which is the real test of "the site loads nothing from the network".
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

PAGES = ["index.html", "chapters/05-backprop.html", "chapters/07-mnist.html", "chapters/12-attention.html"]
MATH_PAGES = {"chapters/05-backprop.html", "chapters/12-attention.html"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1000"]


def _missing(reason):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (under CI the browser test must run: .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site():
    value = os.environ.get("MICROGRAD_PLUS_SITE")
    if not value:
        pytest.fail("MICROGRAD_PLUS_SITE is not set: build the site and set it to the HTML directory")
    root = Path(value).resolve()
    if not (root / "index.html").is_file():
        pytest.fail(f"MICROGRAD_PLUS_SITE={value}: no index.html there")
    return root


@pytest.fixture(scope="module")
def server(site):
    """``python -m http.server`` on 127.0.0.1, port chosen by the OS; yields the base URL."""
    proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                             "--directory", str(site)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()            # "Serving HTTP on 127.0.0.1 port 41235 (http://...) ..."
        m = re.search(r"port (\d+)", line)
        if not m:
            pytest.fail(f"http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{m.group(1)}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing('selenium is not installed (pip install -e ".[browser]")')
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not binary or not chromedriver:
        _missing("chromium / chromium-driver not found (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    os.environ.setdefault("SE_AVOID_STATS", "true")              # selenium sends no usage statistics
    drv = webdriver.Chrome(options=options, service=Service(chromedriver))
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


def _open(driver, url):
    """Load a page, wait for it and its images (lazy ones included) and MathJax to finish."""
    driver.get(url)
    driver.execute_script("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });")
    deadline = time.time() + 30
    while time.time() < deadline:
        if driver.execute_script("return document.readyState === 'complete' && "
                                 "Array.from(document.images).every(i => i.complete)"):
            break
        time.sleep(0.2)
    status = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) { done('no mathjax'); return; }
        MathJax.startup.promise.then(() => done('typeset'), e => done('error: ' + e));
    """)
    return status


def _requests(driver):
    """URLs of every request the browser sent since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("page", PAGES)
def test_page_in_the_browser(driver, server, page):
    _requests(driver)                                          # forget earlier pages' requests
    status = _open(driver, f"{server}/{page}")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'));")
    assert not broken, f"{page}: images that did not load: {broken}"
    if page in MATH_PAGES:
        assert status == "typeset", f"{page}: MathJax did not typeset ({status})"
        containers = driver.execute_script("return document.querySelectorAll('mjx-container').length;")
        sources = driver.execute_script("return document.querySelectorAll('.math').length;")
        assert sources > 0, f"{page}: no math on the page"
        assert containers >= sources, f"{page}: {sources} formulas but only {containers} typeset"
    # Raw TeX visible to the reader: the page's text without code blocks and typeset math.
    text = driver.execute_script("""
        const body = document.querySelector('article') || document.body;
        const copy = body.cloneNode(true);
        copy.querySelectorAll('pre, code, mjx-container, script, style, .math').forEach(e => e.remove());
        document.body.appendChild(copy);  // innerText needs the node in the document
        copy.style.position = 'absolute'; copy.style.left = '-10000px';
        const t = copy.innerText; copy.remove(); return t;
    """)
    raw = re.findall(r"\\\(|\\\[|\$\$|\\frac|\\partial|\\sqrt", text)
    assert not raw, f"{page}: raw TeX visible: {raw[:5]}"
    requests = _requests(driver)
    assert requests, "the performance log recorded no request at all: the check would be blind"
    # Anything fetched over a network protocol must come from the local server (data:, blob:
    # and the browser's own chrome:// resources are not network requests).
    outside = [u for u in requests if u.lower().startswith(("http:", "https:", "ws:", "wss:", "ftp:", "//"))
               and not u.startswith(server + "/")]
    assert not outside, f"{page}: requests leaving the local server: {outside[:5]}"


def _net(site):
    text = (site / "_static" / "digit_weights.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("=") + 1:].rstrip().rstrip(";"))


def _numpy_forward(net, x):
    """The 784-16-16-10 forward pass written again with numpy: sigmoid hidden layers, softmax out."""
    a = np.asarray(x, dtype=np.float64)                       # (784,)
    for i, layer in enumerate(net["layers"]):
        z = np.asarray(layer["W"]) @ a + np.asarray(layer["b"])  # (out,)
        a = 1 / (1 + np.exp(-z)) if i < len(net["layers"]) - 1 else z
    e = np.exp(a - a.max())
    return e / e.sum()                                        # (10,)


def _bars(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.digit-widget .dw-bar')).map(b => parseFloat(b.style.width) || 0);")


def _draw(driver, points):
    """Press, drag through ``points`` (pixels from the canvas's top-left corner), release."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    pad = driver.find_element(By.CSS_SELECTOR, ".digit-widget canvas.dw-pad")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", pad)
    w, h = pad.size["width"], pad.size["height"]
    offsets = [(x - w / 2, y - h / 2) for x, y in points]        # selenium 4: offsets from the centre
    chain = ActionChains(driver).move_to_element_with_offset(pad, *map(int, offsets[0])).click_and_hold()
    for x, y in offsets[1:]:
        chain = chain.move_to_element_with_offset(pad, int(x), int(y))
    chain.release().perform()
    deadline = time.time() + 5                                  # the figure redraws on the next frame
    while time.time() < deadline and not sum(_bars(driver)):
        time.sleep(0.1)


def test_digit_widget_reacts_to_drawing(driver, server, site):
    _open(driver, f"{server}/chapters/07-mnist.html")
    assert driver.execute_script("return !!document.querySelector('.digit-widget.dw-ready');"), \
        "chapter 7's figure did not start (no .digit-widget.dw-ready)"
    assert sum(_bars(driver)) == 0 and driver.execute_script(
        "return document.querySelector('.digit-widget').dataset.prediction;") == ""

    # A vertical stroke (a "1"): the bars fill and a prediction appears.
    _draw(driver, [(110, 30 + 8 * i) for i in range(21)])
    first = _bars(driver)
    assert abs(sum(first) - 100) < 1.5, f"output bars should add up to 100%: {first}"
    said = driver.execute_script("return document.querySelector('.digit-widget').dataset.prediction;")
    assert said in list("0123456789"), f"no predicted digit after drawing: {said!r}"
    lit = driver.execute_script(
        "return Array.from(document.querySelectorAll('.dw-neuron')).map(n => parseFloat(n.style.opacity));")
    assert len(lit) == 32 and max(lit) - min(lit) > 0.1, f"hidden neurons did not light up: {lit}"

    # Clear, then a ring (a "0"): the answer changes.
    from selenium.webdriver.common.by import By
    clear = driver.find_element(By.CSS_SELECTOR, ".digit-widget .dw-clear")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", clear)
    clear.click()
    assert sum(_bars(driver)) == 0
    ring = [(112 + 60 * np.sin(t), 112 - 80 * np.cos(t)) for t in np.linspace(0, 2 * np.pi, 40)]
    _draw(driver, ring)
    second = _bars(driver)
    assert abs(sum(second) - 100) < 1.5
    assert max(abs(a - b) for a, b in zip(first, second)) > 5, f"bars did not change: {first} vs {second}"


def test_digit_widget_forward_pass_matches_numpy(driver, server, site):
    """The JavaScript forward pass on the test images equals an independent numpy one."""
    _open(driver, f"{server}/chapters/07-mnist.html")
    net = _net(site)
    for example in net["examples"]:
        js = driver.execute_script(
            "const net = window.MICROGRAD_PLUS_DIGIT_NET; const acts = window.digitWidget.forward(net, arguments[0]);"
            "return window.digitWidget.softmax(acts[acts.length - 1]);", example["pixels"])
        np.testing.assert_allclose(js, _numpy_forward(net, example["pixels"]), rtol=1e-9, atol=1e-12)
    correct = sum(int(np.argmax(_numpy_forward(net, ex["pixels"])) == ex["label"]) for ex in net["examples"])
    assert correct >= 8, f"the figure's network gets only {correct}/10 of the shown test digits right"


def test_digit_widget_preprocessing_is_mnist_like(driver, server):
    """A drawn block is fitted into 20x20 and centred by its centre of mass in 28x28, as MNIST was."""
    _open(driver, f"{server}/chapters/07-mnist.html")
    out = driver.execute_script("""
        const size = 280, ink = new Float32Array(size * size);
        for (let y = 30; y < 230; y++) for (let x = 100; x < 150; x++) ink[y * size + x] = 1;  // 50 wide, 200 tall
        return window.digitWidget.toMnist(ink, size);
    """)
    img = np.asarray(out).reshape(28, 28)
    rows, cols = np.nonzero(img > 0.5)
    assert rows.max() - rows.min() + 1 == 20, "the tall side should become 20 pixels"
    assert cols.max() - cols.min() + 1 == 5, "the aspect ratio should be kept (50/200 of 20)"
    cy, cx = (np.indices(img.shape) * img).reshape(2, -1).sum(1) / img.sum()
    assert abs(cy + 0.5 - 14) <= 0.5 and abs(cx + 0.5 - 14) <= 0.5, f"centre of mass at {(cy, cx)}"
    assert driver.execute_script("return window.digitWidget.toMnist(new Float32Array(280 * 280), 280);") is None


#: Chapters whose display formulas must fit a phone's width (every chapter with display math).
PHONE_PAGES = [f"chapters/{c}.html" for c in (
    "01-neuron", "02-layers", "03-cost", "04-gradient-descent", "05-backprop", "08-tensors",
    "10-language-models", "11-tokens-embeddings", "12-attention", "13-mlp-block",
    "14-counting-weights", "15-training-sampling")]


def test_display_math_fits_a_phone(driver, server):
    """At 390 px (a phone), no typeset display formula is wider than the text column.

    The style sheet lets a too-wide formula scroll sideways rather than spill, but a formula cut
    at the edge reads as a formula cut off (chapter 12's attention formula did): so the formulas
    the chapters rely on are written to fit, broken into lines where needed.
    """
    driver.set_window_size(390, 900)
    try:
        too_wide = []
        for page in PHONE_PAGES:
            assert _open(driver, f"{server}/{page}") == "typeset", f"{page}: MathJax did not typeset"
            widths = driver.execute_script("""
                return Array.from(document.querySelectorAll('mjx-container[display="true"]'))
                    .map(m => [m.scrollWidth, m.clientWidth]);""")
            assert widths or page not in ("chapters/05-backprop.html", "chapters/12-attention.html"), \
                f"{page}: no display formula found (the check would be blind)"
            too_wide += [(page, i, w, c) for i, (w, c) in enumerate(widths) if w > c + 1]
        assert not too_wide, ("display formulas wider than the column at 390 px "
                              "(page, formula index, width, column): " + str(too_wide))
    finally:
        driver.set_window_size(1280, 1000)


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)])
def test_home_page_shows_the_install_command_without_scrolling(driver, server, width, height):
    """The home page: the install line in the first screen, chapter 1 as the start, no build timings."""
    driver.set_window_size(width, height)
    try:
        _open(driver, f"{server}/index.html")
        found = driver.execute_script("""
            const block = Array.from(document.querySelectorAll('article pre'))
                .find(p => p.innerText.includes('pip install -e ".[plot]"'));
            if (!block) return null;
            const r = block.getBoundingClientRect();
            return [r.top, r.bottom, window.innerHeight, block.scrollWidth, block.clientWidth];""")
        assert found, "no install command on the home page"
        top, bottom, inner, text_width, box_width = found
        assert bottom <= inner, f"at {width} px the install command ends at {bottom:.0f} px, below the first screen ({inner} px)"
        assert text_width <= box_width + 1, f"at {width} px the install command is cut at the box's edge (scrolls sideways)"
        text = driver.execute_script("return (document.querySelector('article') || document.body).innerText;")
        assert "Who it is for" in text and "How long it takes" in text and "What you can do at the end" in text
        assert text.index("1. A neuron holds a number") < text.index("Quick start"), \
            "the home page must send a reader to chapter 1 before the quick start"
        assert "from scratch" not in text, "build timings belong on the install page, not the home page"
    finally:
        driver.set_window_size(1280, 1000)
