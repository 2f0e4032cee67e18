"""The Pythons admitted: setup.cfg's python_requires, its classifiers and the install page say the same."""

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _admitted():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    spec = cfg["options"]["python_requires"]
    low = re.search(r">=\s*3\.(\d+)", spec)
    high = re.search(r"<\s*3\.(\d+)", spec)
    assert low and high, f"python_requires should read '>=3.A, <3.B', got {spec!r}"
    classifiers = re.findall(r"Python :: 3\.(\d+)", cfg["metadata"]["classifiers"])
    return int(low.group(1)), int(high.group(1)), sorted(int(c) for c in classifiers)


def test_classifiers_list_every_admitted_python():
    low, high, listed = _admitted()
    assert listed == list(range(low, high)), f"classifiers {listed} vs python_requires 3.{low} to 3.{high - 1}"
    assert (low, high) == (10, 15), "numba 0.68.1 and numpy < 2.5 publish wheels for 3.10 to 3.14"


def test_the_install_page_names_the_same_range():
    low, high, _ = _admitted()
    text = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert f"Python 3.{low} to 3.{high - 1}" in text
