"""Value: forward results, local derivatives, IEEE edge cases and backward semantics.

Expected numbers come from the math module, hand-derived formulas, or PyTorch as an oracle;
never from the engine itself.
"""

import gc
import math
import weakref

import pytest

from micrograd_plus.scalar import MLP, Value


def grads_of(fn, *xs):
    """Build fn's graph on fresh leaves, backprop, and return (out.data, [leaf grads])."""
    leaves = [Value(x) for x in xs]
    out = fn(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


# ---------------------------------------------------------------------------------------------
# Forward values and local derivatives, by hand
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fn, x, y, expected, d_dx, d_dy",
    [
        (lambda a, b: a + b, 2.0, -3.0, -1.0, 1.0, 1.0),
        (lambda a, b: a - b, 2.0, -3.0, 5.0, 1.0, -1.0),
        (lambda a, b: a * b, 2.0, -3.0, -6.0, -3.0, 2.0),
        (lambda a, b: a / b, 2.0, -4.0, -0.5, -0.25, -2.0 / 16.0),
        (lambda a, b: a ** b, 2.0, 3.0, 8.0, 3.0 * 4.0, 8.0 * math.log(2.0)),
        (lambda a, b: Value.dot([a, b], [b, 3.0]), 2.0, -1.0, 2.0 * -1.0 + -1.0 * 3.0, -1.0, 2.0 + 3.0),
        (lambda a, b: Value.sum([a, b, a, 4.0]), 2.0, -1.0, 7.0, 2.0, 1.0),
    ],
    ids=["add", "sub", "mul", "div", "pow_value", "dot", "sum"],
)
def test_binary_ops_by_hand(fn, x, y, expected, d_dx, d_dy):
    out, (gx, gy) = grads_of(fn, x, y)
    assert out == pytest.approx(expected, rel=1e-12)
    assert gx == pytest.approx(d_dx, rel=1e-12)
    assert gy == pytest.approx(d_dy, rel=1e-12)


@pytest.mark.parametrize(
    "fn, x, expected, derivative",
    [
        (lambda a: -a, 1.5, -1.5, -1.0),
        (lambda a: a.exp(), 0.7, math.exp(0.7), math.exp(0.7)),
        (lambda a: a.log(), 2.5, math.log(2.5), 1 / 2.5),
        (lambda a: a.tanh(), 0.3, math.tanh(0.3), 1 - math.tanh(0.3) ** 2),
        (lambda a: a.sigmoid(), 0.4, 1 / (1 + math.exp(-0.4)),
         math.exp(-0.4) / (1 + math.exp(-0.4)) ** 2),
        (lambda a: a.sigmoid(), -0.4, 1 / (1 + math.exp(0.4)),
         math.exp(0.4) / (1 + math.exp(0.4)) ** 2),
        (lambda a: a.relu(), 1.5, 1.5, 1.0),
        (lambda a: a.relu(), -1.5, 0.0, 0.0),
        (lambda a: a.relu(), 0.0, 0.0, 0.0),  # PyTorch's choice at the kink
        (lambda a: a.abs(), -2.0, 2.0, -1.0),
        (lambda a: abs(a), 2.0, 2.0, 1.0),
        (lambda a: a.abs(), 0.0, 0.0, 0.0),
        (lambda a: a ** 2, -3.0, 9.0, -6.0),
        (lambda a: a ** 0.5, 4.0, 2.0, 0.25),
        (lambda a: a ** -1, 2.0, 0.5, -0.25),
        (lambda a: a ** 0, 5.0, 1.0, 0.0),
    ],
    ids=["neg", "exp", "log", "tanh", "sigmoid+", "sigmoid-", "relu+", "relu-", "relu0",
         "abs-", "abs+", "abs0", "square", "sqrt", "reciprocal", "pow0"],
)
def test_unary_ops_by_hand(fn, x, expected, derivative):
    out, (g,) = grads_of(fn, x)
    assert out == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert g == pytest.approx(derivative, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize(
    "fn, expected, d_da",
    [
        (lambda a: 2 + a, 5.0, 1.0),
        (lambda a: a + 2, 5.0, 1.0),
        (lambda a: 2 - a, -1.0, -1.0),
        (lambda a: a - 2, 1.0, 1.0),
        (lambda a: 2 * a, 6.0, 2.0),
        (lambda a: a * 2, 6.0, 2.0),
        (lambda a: 6 / a, 2.0, -6.0 / 9.0),
        (lambda a: a / 6, 0.5, 1.0 / 6.0),
        (lambda a: 2 ** a, 8.0, 8.0 * math.log(2.0)),
        (lambda a: a ** 2, 9.0, 6.0),
    ],
    ids=["radd", "add", "rsub", "sub", "rmul", "mul", "rtruediv", "truediv", "rpow", "pow"],
)
def test_plain_numbers_on_either_side(fn, expected, d_da):
    out, (g,) = grads_of(fn, 3.0)
    assert out == pytest.approx(expected, rel=1e-12)
    assert g == pytest.approx(d_da, rel=1e-12)


def test_every_op_keeps_inputs_and_local_grads_side_by_side():
    a, b = Value(2.0), Value(5.0)
    c = a * b
    assert c._prev == (a, b) and c._local_grads == (5.0, 2.0) and c._op == "*"
    assert a._prev == () and a._op == ""


def test_sum_and_dot_are_single_nodes():
    xs = [Value(float(i)) for i in range(50)]
    s = Value.sum(xs)
    assert s._prev == tuple(xs) and s.data == sum(range(50))
    d = Value.dot(xs, xs)
    assert len(d._prev) == 100 and d.data == sum(i * i for i in range(50))
    assert Value.sum([]).data == 0.0


def test_dot_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="2 weights and 3 inputs"):
        Value.dot([1.0, 2.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("bad", ["1.5", None, [1.0], Value])
def test_value_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="one real number"):
        Value(bad)


def test_value_accepts_ints_and_numpy_scalars():
    np = pytest.importorskip("numpy")
    assert Value(3).data == 3.0 and type(Value(3).data) is float
    assert type(Value(np.float32(0.5)).data) is float


# ---------------------------------------------------------------------------------------------
# IEEE 754: overflow and undefined math give inf / nan, never an exception
# ---------------------------------------------------------------------------------------------

def test_no_overflow_error():
    assert Value(1000.0).tanh().data == 1.0
    assert Value(-1000.0).tanh().data == -1.0
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0
    assert Value(1000.0).exp().data == math.inf
    assert Value(-1000.0).exp().data == 0.0
    assert (Value(10.0) ** 400).data == math.inf
    assert (Value(-10.0) ** 401).data == -math.inf


def test_gradients_at_saturation_are_finite_or_ieee():
    for fn, expected in [(lambda a: a.tanh(), 0.0), (lambda a: a.sigmoid(), 0.0),
                         (lambda a: a.exp(), math.inf)]:
        _, (g,) = grads_of(fn, 1000.0)
        assert g == expected
    _, (g,) = grads_of(lambda a: a.sigmoid(), -1000.0)
    assert g == 0.0


def test_sigmoid_far_left_keeps_precision():
    # sigmoid(-700) = 1/(1+e^700) ~ e^-700: the stable formula keeps it (not 0)
    assert Value(-700.0).sigmoid().data == pytest.approx(math.exp(-700.0), rel=1e-12)


def test_division_and_log_at_zero():
    assert (Value(1.0) / Value(0.0)).data == math.inf
    assert (Value(-1.0) / Value(0.0)).data == -math.inf
    assert (Value(1.0) / Value(-0.0)).data == -math.inf
    assert math.isnan((Value(0.0) / Value(0.0)).data)
    assert Value(0.0).log().data == -math.inf
    assert math.isnan(Value(-1.0).log().data)
    _, (g,) = grads_of(lambda a: a.log(), 0.0)
    assert g == math.inf


@pytest.mark.parametrize(
    "a, b, out, d_da, d_db",
    [
        # values from torch.pow with float64 tensors (and the math behind them)
        (0.0, 0.0, 1.0, 0.0, 0.0),
        (0.0, 1.0, 0.0, 1.0, 0.0),
        (0.0, -1.0, math.inf, -math.inf, -math.inf),
        (-2.0, 0.5, math.nan, math.nan, math.nan),  # (-2)**0.5 is not real
        (-2.0, 2.0, 4.0, -4.0, math.nan),  # ln(-2) undefined: d/db is NaN
        (2.0, 3.0, 8.0, 12.0, 8.0 * math.log(2.0)),
    ],
)
def test_pow_with_value_exponent_edge_cases(a, b, out, d_da, d_db):
    got, (ga, gb) = grads_of(lambda x, y: x ** y, a, b)
    for value, expected in [(got, out), (ga, d_da), (gb, d_db)]:
        if math.isnan(expected):
            assert math.isnan(value)
        else:
            assert value == pytest.approx(expected, rel=1e-12)


def test_pow_never_returns_complex():
    out = Value(-8.0) ** (1.0 / 3.0)  # Python's (-8.0) ** (1/3) is complex
    assert isinstance(out.data, float) and math.isnan(out.data)
    assert (Value(0.0) ** -1).data == math.inf
    assert (Value(-0.0) ** -1).data == -math.inf


def test_ops_agree_with_torch_including_edges():
    torch = pytest.importorskip("torch")
    points = [-1000.0, -3.0, -0.5, 0.0, 0.5, 2.0, 1000.0]
    ops = {
        "exp": (lambda v: v.exp(), torch.exp),
        "tanh": (lambda v: v.tanh(), torch.tanh),
        "sigmoid": (lambda v: v.sigmoid(), torch.sigmoid),
        "relu": (lambda v: v.relu(), torch.relu),
        "abs": (lambda v: v.abs(), torch.abs),
        "log": (lambda v: v.log(), torch.log),
        "cube": (lambda v: v ** 3, lambda t: t ** 3),
        "reciprocal": (lambda v: 1 / v, lambda t: 1 / t),
    }
    for name, (ours, theirs) in ops.items():
        for x in points:
            out, (g,) = grads_of(ours, x)
            t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            r = theirs(t)
            r.backward()
            for mine, ref in [(out, r.item()), (g, t.grad.item())]:
                if math.isnan(ref):
                    assert math.isnan(mine), (name, x)
                else:
                    assert mine == pytest.approx(ref, rel=1e-12, abs=1e-300), (name, x, mine, ref)


# ---------------------------------------------------------------------------------------------
# backward(): order, accumulation, repeated calls
# ---------------------------------------------------------------------------------------------

def test_node_used_twice_accumulates():
    _, (g,) = grads_of(lambda a: a + a, 3.0)
    assert g == 2.0
    _, (g,) = grads_of(lambda a: a * a, 3.0)
    assert g == 6.0
    # a diamond: b and c both depend on a, d on both
    a = Value(2.0)
    b = a * 3.0
    c = a.exp()
    d = b * c  # d = 3a e^a, dd/da = 3 e^a (1 + a)
    d.backward()
    assert a.grad == pytest.approx(3 * math.exp(2.0) * 3.0, rel=1e-12)


def test_backward_twice_accumulates_exactly_twice_in_leaves():
    a, b = Value(1.5), Value(-0.5)
    h = (a * b).tanh()
    out = h * a + b
    out.backward()
    ga, gb, gh = a.grad, b.grad, h.grad
    out.backward()
    assert a.grad == pytest.approx(2 * ga, rel=1e-14)
    assert b.grad == pytest.approx(2 * gb, rel=1e-14)
    # the intermediate node holds this call's gradient, not a running total
    assert h.grad == pytest.approx(gh, rel=1e-14) and gh == pytest.approx(a.data)
    assert out.grad == 1.0


def test_backward_through_shared_subgraph_from_two_roots():
    a = Value(2.0)
    h = a * a
    loss1 = h * 3.0
    loss2 = h + 1.0
    loss1.backward()
    loss2.backward()
    # d(loss1)/da + d(loss2)/da = 3 * 2a + 2a
    assert a.grad == pytest.approx(6 * 2.0 + 2 * 2.0)


def test_backward_with_custom_seed_gradient_and_leaf_root():
    a = Value(3.0)
    (a * a).backward(grad=0.5)
    assert a.grad == pytest.approx(3.0)
    leaf = Value(1.0)
    leaf.backward()
    leaf.backward()
    assert leaf.grad == 2.0


def test_zero_grad_resets_parameters():
    net = MLP(2, [3, 1], generator=0)
    net([0.5, -0.2]).backward()
    assert any(p.grad != 0.0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad == 0.0 for p in net.parameters())


def test_million_node_chain_without_recursion_error():
    # The cyclic garbage collector is paused only to keep this test quick: the graph has no
    # cycles (see test_graph_has_no_reference_cycles), so it would find nothing anyway.
    gc.disable()
    try:
        x = Value(0.5)
        y = x
        for _ in range(1_000_000):
            y = y + x  # a chain a million additions deep, reusing x each time
        y.backward()
    finally:
        gc.enable()
    assert x.grad == 1_000_001.0
    assert y.data == pytest.approx(0.5 * 1_000_001)


def test_graph_has_no_reference_cycles():
    """Dropping the loss frees the whole graph by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        a, b = Value(0.3), Value(-1.2)
        out = Value.sum([(a * b).tanh(), a.exp() / b, Value.dot([a, b], [b, a]).relu(), a ** b.abs()])
        out.backward()
        probes = [weakref.ref(out), weakref.ref(out._prev[0]), weakref.ref(out._prev[2]._prev[0])]
        del out
        # with the cyclic collector off, only reference counting can have freed them
        assert all(probe() is None for probe in probes), "the graph outlived its last reference"
    finally:
        gc.enable()


def test_numpy_scalars_on_the_left_give_values():
    np = pytest.importorskip("numpy")
    out = np.float64(2.0) * Value(3.0) + np.float64(1.0)
    assert isinstance(out, Value) and out.data == 7.0


def test_bad_operands_are_named():
    with pytest.raises(TypeError, match="one real number, got str"):
        Value(2.0) ** "a"
    with pytest.raises(TypeError, match="one real number, got list"):
        Value(2.0) + [1.0]


def test_topological_order_lists_each_node_once_after_its_inputs():
    from micrograd_plus.scalar.engine import topological_order

    a, b = Value(2.0), Value(3.0)
    c = a * b
    d = c + a  # a is used twice, c once
    e = d * c  # a diamond: c reaches e directly and through d
    order = topological_order(e)
    assert len(order) == 5 and len({id(n) for n in order}) == 5
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for parent in node._prev:
            assert position[id(parent)] < position[id(node)], (parent, node)
    assert order[-1] is e
    assert topological_order(a) == [a]  # a leaf is its own graph


def test_topological_order_steps_only_into_the_children_it_is_given():
    # Tensor.backward passes a `children` that skips leaves: the walk must not enter them.
    from micrograd_plus.scalar.engine import topological_order

    a, b = Value(2.0), Value(3.0)
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e, children=lambda n: [p for p in n._prev if p._prev])  # results only
    assert [id(n) for n in order] == [id(c), id(d), id(e)]
    assert [id(n) for n in topological_order(e, children=lambda n: ())] == [id(e)]


def test_topological_order_tells_nodes_apart_by_identity_not_equality():
    # Tensor == Tensor is elementwise (its hash stays its identity); the walk must never call ==.
    from micrograd_plus.scalar.engine import topological_order

    class Node:
        def __init__(self, *prev):
            self._prev = prev

        def __eq__(self, other):
            raise AssertionError("compared with ==")

        __hash__ = object.__hash__

    x = Node()
    y = Node(x, x)
    z = Node(y, x)
    assert [id(n) for n in topological_order(z)] == [id(x), id(y), id(z)]


def test_topological_order_walks_a_chain_deeper_than_the_recursion_limit():
    from micrograd_plus.scalar.engine import topological_order

    x = Value(1.0)
    y = x
    for _ in range(200_000):  # far deeper than Python's recursion limit
        y = y + 1.0
    order = topological_order(y)
    assert order[-1] is y and any(n is x for n in order)
    assert len(order) == 1 + 2 * 200_000  # each + adds its result and a leaf for 1.0
