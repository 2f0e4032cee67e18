"""Property tests: every scalar op, and random compositions of ops, against central differences.

Inputs are drawn away from kinks (relu and abs at 0) and domain edges (log and fractional
powers near 0 or below, division by almost 0), where a numerical derivative is meaningless.
Run more examples with ``MICROGRAD_PLUS_HYPOTHESIS_PROFILE=thorough``.
"""

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from micrograd_plus.gradcheck import gradcheck
from micrograd_plus.scalar import Value


def reals(lo=-3.0, hi=3.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def away_from_zero(lo=0.1, hi=3.0):
    """Numbers with lo <= |x| <= hi, either sign."""
    return st.one_of(reals(lo, hi), reals(-hi, -lo))


positive = reals(0.1, 4.0)


def check(fn, *xs):
    assert gradcheck(fn, [Value(x) for x in xs])


# -- each op on its own ------------------------------------------------------------------------

@given(reals(), reals())
def test_add(x, y):
    check(lambda a, b: a + b, x, y)


@given(reals(), reals())
def test_sub(x, y):
    check(lambda a, b: a - b, x, y)


@given(reals(), reals())
def test_mul(x, y):
    check(lambda a, b: a * b, x, y)


@given(reals(), away_from_zero())
def test_div(x, y):
    check(lambda a, b: a / b, x, y)


@given(reals(), reals())
def test_number_on_either_side(x, c):
    check(lambda a: c + a, x)
    check(lambda a: a + c, x)
    check(lambda a: c - a, x)
    check(lambda a: a - c, x)
    check(lambda a: c * a, x)
    check(lambda a: a * c, x)
    check(lambda a: a / 1.7, x)
    if abs(x) > 0.1:
        check(lambda a: c / a, x)


@given(reals())
def test_neg(x):
    check(lambda a: -a, x)


@given(reals(-5.0, 5.0))
def test_exp(x):
    check(lambda a: a.exp(), x)


@given(positive)
def test_log(x):
    check(lambda a: a.log(), x)


@given(reals(-4.0, 4.0))
def test_tanh(x):
    check(lambda a: a.tanh(), x)


@given(reals(-6.0, 6.0))
def test_sigmoid(x):
    check(lambda a: a.sigmoid(), x)


@given(away_from_zero(0.01))
def test_relu(x):
    check(lambda a: a.relu(), x)


@given(away_from_zero(0.01))
def test_abs(x):
    check(lambda a: a.abs(), x)


@given(away_from_zero(0.2), st.integers(-3, 4))
def test_pow_integer_exponent_any_sign_base(x, n):
    check(lambda a: a ** n, x)


@given(positive, reals(-2.5, 2.5))
def test_pow_real_exponent(x, n):
    check(lambda a: a ** n, x)


@given(positive, reals(-2.0, 2.0))
def test_pow_value_exponent(x, y):
    check(lambda a, b: a ** b, x, y)


@given(positive, reals(-2.0, 2.0))
def test_rpow(c, y):
    check(lambda b: c ** b, y)


@given(st.lists(reals(), min_size=1, max_size=8))
def test_sum(xs):
    check(lambda *vs: Value.sum(vs), *xs)


@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.lists(reals(), min_size=n, max_size=n),
                                                      st.lists(reals(), min_size=n, max_size=n))))
def test_dot(pair):
    ws, xs = pair
    n = len(ws)
    check(lambda *vs: Value.dot(vs[:n], vs[n:]), *ws, *xs)


# -- random compositions -----------------------------------------------------------------------

class Program:
    """A random straight-line program over Values, run as ``fn(*inputs)`` for gradcheck.

    Each step applies one op to values chosen from the pool (inputs and earlier results, with
    reuse, so nodes get used several times). Ops with a restricted domain get a safe argument
    built from other ops (``a*a + 0.5`` is positive); ``assume`` rejects examples where a kink
    or a huge intermediate makes central differences meaningless.
    """

    UNARY = {
        "neg": lambda a: -a,
        "tanh": lambda a: a.tanh(),
        "sigmoid": lambda a: a.sigmoid(),
        "exp": lambda a: a.exp(),
        "log": lambda a: (a * a + 0.5).log(),
        "relu": lambda a: a.relu(),
        "abs": lambda a: abs(a),
        "square": lambda a: a ** 2,
        "sqrt": lambda a: (a * a + 0.5) ** 0.5,
        "scale": lambda a: 0.5 * a - 1.0,
    }
    BINARY = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / (b * b + 0.5),
        "pow": lambda a, b: (a * a + 0.5) ** b.tanh(),
        "sum": lambda a, b: Value.sum([a, b, a]),
        "dot": lambda a, b: Value.dot([a, b], [b, 2.0]),
    }

    def __init__(self, steps):
        self.steps = steps
        self.kink_distance = math.inf  # smallest |argument| seen at relu/abs
        self.largest = 0.0

    def __call__(self, *inputs):
        pool = list(inputs)
        for name, i, j in self.steps:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            if name in self.UNARY:
                if name in ("relu", "abs"):
                    self.kink_distance = min(self.kink_distance, abs(a.data))
                if name == "exp" and a.data > 30:
                    self.largest = math.inf
                out = self.UNARY[name](a)
            else:
                out = self.BINARY[name](a, b)
            self.largest = max(self.largest, abs(out.data))
            pool.append(out)
        return Value.sum(pool[len(inputs):])


steps = st.lists(
    st.tuples(st.sampled_from(sorted(Program.UNARY) + sorted(Program.BINARY)),
              st.integers(0, 50), st.integers(0, 50)),
    min_size=1, max_size=10,
)


@given(st.lists(reals(-2.0, 2.0), min_size=1, max_size=3), steps)
def test_random_compositions(xs, program_steps):
    program = Program(program_steps)
    program(*[Value(x) for x in xs])  # a dry run to look at the intermediates
    assume(program.kink_distance > 1e-3)
    assume(program.largest < 1e6)
    check(program, *xs)


def test_composition_checker_can_fail():
    """A sanity check of the harness: a wrong local derivative inside a program is caught."""
    from micrograd_plus.gradcheck import GradcheckError

    def wrong_tanh(a):
        t = math.tanh(a.data)
        return Value(t, (a,), (1.0 - t,), "tanh")  # should be 1 - t**2

    with pytest.raises(GradcheckError):
        check(lambda a, b: wrong_tanh(a * b) + b, 0.7, 1.3)
