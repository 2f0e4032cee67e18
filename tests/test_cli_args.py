"""The CLI's checked number types: one line naming what was wrong, never a traceback."""

import argparse

import pytest

from micrograd_plus._plumbing.cli_args import nonneg_float, nonneg_int, positive_float, positive_int, probability


@pytest.mark.parametrize("check, text, value", [
    (positive_int, "16", 16), (nonneg_int, "0", 0), (positive_float, "3e-4", 3e-4),
    (nonneg_float, "0", 0.0), (probability, "0.2", 0.2),
])
def test_good_text_gives_the_number(check, text, value):
    assert check(text) == value


@pytest.mark.parametrize("check, text, what", [
    (positive_int, "0", "a positive integer"), (positive_int, "x", "a positive integer"),
    (positive_int, "1.5", "a positive integer"), (nonneg_int, "-1", "an integer >= 0"),
    (positive_float, "inf", "a finite number > 0"), (positive_float, "0", "a finite number > 0"),
    (nonneg_float, "nan", "a finite number >= 0"), (nonneg_float, "-0.1", "a finite number >= 0"),
    (probability, "1", "a number in [0, 1)"), (probability, "nan", "a number in [0, 1)"),
])
def test_bad_text_is_a_usage_error_quoting_it(check, text, what):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        check(text)
    assert str(info.value) == f"must be {what}, got {text!r}"
