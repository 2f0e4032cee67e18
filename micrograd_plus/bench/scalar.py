"""Scalar engine vs the original ``micrograd``: seconds per training step on micrograd's own demo.

The workload is the classic demo from micrograd's notebook: an ``MLP(2, [16, 16, 1])`` (337
parameters) classifying 100 two-moons points, with a max-margin (SVM hinge) loss plus L2
regularisation (alpha = 1e-4), and one full-batch SGD step per iteration. Each step builds the
whole graph (about 64,000 nodes in micrograd; far fewer here, since a neuron's weighted sum is one
``dot`` node), runs backward, and updates every parameter.

Both engines get the *same* data and the *same* initial weights, so their losses must agree at
every step (checked: the benchmark stops with an error if they diverge -- a free correctness
test against an independent implementation). Steps are timed alternately in one process (ours,
theirs, ours, ...) after a warm-up, with a full garbage collection outside the timed region
before each step, so one engine's garbage never bills the other. The ratio column compares
medians (the headline figure); ratio(min) compares the fastest steps, which are the least
disturbed by other processes on a busy machine.

Run it with ``micrograd-plus bench scalar`` or ``micrograd-plus bench scalar``.
PyTorch is not a peer here: a batched tensor engine is a different kind of program.
"""

import gc
import statistics
import time

ALPHA = 1e-4  # L2 regularisation strength of micrograd's demo
SIZES = [16, 16, 1]
N_POINTS = 100


def _learning_rate(k, total=100):
    """micrograd's demo schedule: from 1.0 down to 0.1 over 100 steps."""
    return 1.0 - 0.9 * (k % total) / total


def _ours_step(model, X, y, k):
    """One full-batch SGD step with micrograd_plus.scalar; returns (loss, accuracy)."""
    from micrograd_plus.scalar import Value  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    scores = [model(row) for row in X]
    # hinge: a correct score beyond the margin (y*score >= 1) costs nothing
    losses = [(1 - yi * s).relu() for yi, s in zip(y, scores)]
    data_loss = Value.sum(losses) * (1.0 / len(losses))
    params = model.parameters()
    reg_loss = ALPHA * Value.sum([p * p for p in params])
    total = data_loss + reg_loss
    model.zero_grad()
    total.backward()
    lr = _learning_rate(k)
    for p in params:
        p.data -= lr * p.grad
    accuracy = sum((yi > 0) == (s.data > 0) for yi, s in zip(y, scores)) / len(y)
    return total.data, accuracy


def _theirs_step(model, X, y, k):
    """The same step written exactly as micrograd's demo notebook writes it."""
    from micrograd.engine import Value

    inputs = [list(map(Value, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * s).relu() for yi, s in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    total = data_loss + reg_loss
    model.zero_grad()
    total.backward()
    lr = _learning_rate(k)
    for p in model.parameters():
        p.data -= lr * p.grad
    accuracy = sum((yi > 0) == (s.data > 0) for yi, s in zip(y, scores)) / len(y)
    return total.data, accuracy


def _copy_weights(ours, theirs):
    """Give micrograd's MLP exactly our initial weights (its own init uses Python's random)."""
    for layer_a, layer_b in zip(ours.layers, theirs.layers):
        for na, nb in zip(layer_a.neurons, layer_b.neurons):
            for wa, wb in zip(na.w, nb.w):
                wb.data = wa.data
            nb.b.data = na.b.data


def _timed(step, *args):
    gc.collect()
    t0 = time.perf_counter()
    out = step(*args)
    return time.perf_counter() - t0, out


def run(repeats=None, quick=False):
    """Time both engines step by step and return (and print) the table.

    Args:
        repeats: timed steps per engine (default 20, or 5 with ``quick``); two warm-up
            steps each come first (one with ``quick``).
        quick: a short run, for smoke tests.
    """
    from micrograd_plus.data.moons import make_moons  # deferred: loads numba/torch in the benchmark's own process, in the order it needs
    from micrograd_plus.scalar import MLP  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    repeats = repeats or (5 if quick else 20)
    warmup = 1 if quick else 2
    X, labels = make_moons(N_POINTS, noise=0.1, generator=1)
    X = X.tolist()
    y = [2.0 * float(c) - 1.0 for c in labels]  # labels -1 / +1 for the hinge loss

    ours = MLP(2, SIZES, generator=1337)
    try:
        from micrograd.nn import MLP as TheirMLP
    except ImportError:
        theirs = None
    else:
        theirs = TheirMLP(2, list(SIZES))
        _copy_weights(ours, theirs)

    t_ours, t_theirs = [], []
    for k in range(warmup + repeats):
        dt, (loss_a, acc_a) = _timed(_ours_step, ours, X, y, k)
        if k >= warmup:
            t_ours.append(dt)
        if theirs is not None:
            dt, (loss_b, acc_b) = _timed(_theirs_step, theirs, X, y, k)
            if k >= warmup:
                t_theirs.append(dt)
            if abs(loss_a - loss_b) > 1e-6 * max(1.0, abs(loss_b)):
                raise RuntimeError(
                    f"step {k}: the engines disagree (loss {loss_a!r} vs micrograd's {loss_b!r}); "
                    "the benchmark is not comparing the same computation"
                )

    med_ours = statistics.median(t_ours)
    lines = [
        f"scalar engine: MLP(2, {SIZES}) on {N_POINTS} two-moons points, hinge loss + L2 "
        f"({ALPHA:g}), full-batch SGD",
        f"median seconds per step over {repeats} interleaved steps (after {warmup} warm-up)",
        "",
        f"{'engine':<16}{'s/step':>10}{'min':>10}{'ratio':>10}{'ratio(min)':>12}",
        f"{'micrograd_plus':<16}{med_ours:>10.4f}{min(t_ours):>10.4f}{1.0:>10.2f}{1.0:>12.2f}",
    ]
    if theirs is not None:
        med_theirs = statistics.median(t_theirs)
        lines.append(
            f"{'micrograd':<16}{med_theirs:>10.4f}{min(t_theirs):>10.4f}"
            f"{med_theirs / med_ours:>10.2f}{min(t_theirs) / min(t_ours):>12.2f}"
        )
        lines += [
            "",
            f"micrograd_plus is {med_theirs / med_ours:.1f}x faster per step "
            f"(losses agree at every step; final loss {loss_a:.6f}, accuracy {acc_a:.0%})",
        ]
    else:
        lines += ["", "micrograd not installed (pip install micrograd==0.1.0): no comparison"]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    run()
