"""Benchmark: one epoch of MNIST training, ours against numpy and PyTorch.

Every contender trains the same network from the same initial weights on the same batches:
784-128-10 with ReLU, cross-entropy, SGD with momentum 0.9, learning rate 0.1, batch size 64,
one pass over the 60,000 training images (938 steps, the last one of 32 images). A step is the
whole thing: gather the batch, forward, loss, backward, optimiser update.

* **ours** -- :mod:`micrograd_plus` (``nn.MLP``, ``F.cross_entropy``, ``optim.SGD``) with the
  numba matmul kernels (the default backend);
* **ours+BLAS** -- the same code with the ``"numpy"`` kernel backend (matmuls by numpy's BLAS),
  which shows what the autograd bookkeeping itself costs;
* **numpy** -- the forward and backward passes written out by hand with numpy (no autograd at
  all): the floor for a Python loop over BLAS;
* **torch** -- ``torch.nn.Sequential`` + ``torch.optim.SGD`` at 2 threads (if installed);
* **ours 1T**, **torch 1T** -- ours and torch again, limited to one thread each
  (``numba.set_num_threads(1)``, ``torch.set_num_threads(1)``): a comparison that other
  processes on a busy machine disturb much less.

Contenders take turns in blocks of 47 steps, round after round, after a warm-up (in three phases:
ours and torch; the two BLAS-based ones; the one-thread pair); the table shows
the median seconds per epoch, the "best" epoch (each block's fastest round, summed: a guide when
the machine is busy) and ratios of the medians. ``quick=True`` times only the first 150 steps of
the epoch and extrapolates to a full epoch (and says so). Target: ours at most 1.5x PyTorch's time.

On a shared 2-core machine, PyTorch's two threads are the most sensitive to other processes: when
one core is taken, each of its parallel operations waits for the descheduled thread. Compare the
"best" column, and rerun, before believing a surprising ratio.
"""

import time

import numpy as np

THREADS = 2
SIZES = (784, 128, 10)
LR, MOMENTUM, BATCH = 0.1, 0.9, 64
CHUNK = 47  # steps per interleaved timing block (938 = 20 blocks of ~47)
PAUSE = 0.02  # seconds of rest before each block, so idle worker threads of the last one stop spinning


def _our_step_fn(weights):
    from micrograd_plus import functional as F, nn, optim  # deferred: loads numba/torch in the benchmark's own process, in the order it needs
    from micrograd_plus._tensor import Tensor  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    model = nn.MLP(list(SIZES), activation="relu")
    model.load_state_dict(weights)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(xb, yb):
        loss = F.cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step.weights = model.state_dict  # for tests: the contenders must compute the same thing
    return step


def _numpy_step_fn(weights):
    """The same training step with the derivatives written out by hand (no autograd)."""
    w1, b1 = weights["layers.0.weight"].copy(), weights["layers.0.bias"].copy()  # (128, 784), (128,)
    w2, b2 = weights["layers.2.weight"].copy(), weights["layers.2.bias"].copy()  # (10, 128), (10,)
    params = [w1, b1, w2, b2]
    bufs = [None] * 4

    def step(xb, yb):
        n = len(xb)
        h_pre = xb @ w1.T + b1  # (B, 128)
        h = np.maximum(h_pre, 0)
        logits = h @ w2.T + b2  # (B, 10)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)  # softmax (B, 10)
        d_logits = p
        d_logits[np.arange(n), yb] -= 1.0
        d_logits /= n  # dL/dlogits of the mean cross-entropy
        g_w2 = d_logits.T @ h  # (10, 128)
        g_b2 = d_logits.sum(axis=0)
        d_h = d_logits @ w2  # (B, 128)
        d_h *= h_pre > 0
        g_w1 = d_h.T @ xb  # (128, 784)
        g_b1 = d_h.sum(axis=0)
        for i, (param, grad) in enumerate(zip(params, (g_w1, g_b1, g_w2, g_b2))):
            if bufs[i] is None:
                bufs[i] = grad.copy()
            else:
                bufs[i] *= MOMENTUM
                bufs[i] += grad
            param -= LR * bufs[i]

    step.weights = lambda: dict(zip(("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"),
                                    (p.copy() for p in params)))
    return step


def _torch_step_fn(weights):
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    with torch.no_grad():
        for name, p in zip(("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"),
                           model.parameters()):
            p.copy_(torch.from_numpy(np.array(weights[name])))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.functional.cross_entropy

    def step(xb, yb):
        loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    names = ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias")
    step.weights = lambda: {n: p.detach().numpy().copy() for n, p in zip(names, model.parameters())}
    return step


def run(repeats=None, quick=False):
    """Time MNIST training epochs in each contender; print and return the table.

    Args:
        repeats: rounds of interleaved timing (median over rounds); default 3 (2 with ``quick``).
        quick: time the first 150 steps of each epoch and extrapolate to the 938-step epoch.
    """
    from micrograd_plus import nn  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    rounds = repeats or (2 if quick else 3)
    x, y, batches = _epoch_batches()
    timed = batches[:150] if quick else batches
    weights = nn.MLP(list(SIZES), activation="relu", generator=np.random.default_rng(0)).state_dict()
    contenders, have_torch = _contenders(weights)
    times = _time_blocks(contenders, have_torch, x, y, batches, timed, rounds)
    scale = len(batches) / len(timed)  # 1.0 unless quick
    sec = {name: float(np.median(t.sum(axis=1))) * scale for name, t in times.items()}
    best = {name: float(t.min(axis=0).sum()) * scale for name, t in times.items()}
    table = _table(sec, best, have_torch, rounds, len(timed), len(batches), quick)
    print(table)
    return table


def _epoch_batches():
    """The training set as float32 ``x`` (60000, 784) and int64 ``y`` (60000,), and one epoch's
    938 batches of row indices in a fixed shuffled order (seed 0)."""
    from micrograd_plus.data import load_mnist, mnist_to_float  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    images, labels = load_mnist("train")
    x = mnist_to_float(images)  # (60000, 784) float32
    y = labels.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    batches = [order[i : i + BATCH] for i in range(0, len(x), BATCH)]  # 938 index arrays
    return x, y, batches


def _contenders(weights):
    """name -> (step function, kernel backend or None for the default, phase), and whether torch is
    installed. Contenders of one phase are interleaved; phases run one after another:

    0: ours and torch at THREADS threads -- the comparison this benchmark is for;
    1: the BLAS-based contenders at THREADS threads. They get their own phase because OpenBLAS's
       idle threads keep spinning for a while after each call and slow down whatever runs next;
    2: ours and torch at one thread each, much less disturbed by other processes on a busy machine.
    """
    contenders = {"ours": (_our_step_fn(weights), None, 0)}
    have_torch = True
    try:
        import torch  # noqa: F401

        contenders["torch"] = (_torch_step_fn(weights), None, 0)
    except ImportError:
        have_torch = False
    contenders["ours+BLAS"] = (_our_step_fn(weights), "numpy", 1)
    contenders["numpy"] = (_numpy_step_fn(weights), None, 1)
    contenders["ours 1T"] = (_our_step_fn(weights), None, 2)
    if have_torch:
        contenders["torch 1T"] = (_torch_step_fn(weights), None, 2)
    return contenders, have_torch


def _time_blocks(contenders, have_torch, x, y, batches, timed, rounds):
    """Seconds per (round, chunk) for each contender: name -> array (rounds, chunks)."""
    import numba

    from micrograd_plus import kernels  # deferred: loads numba/torch in the benchmark's own process, in the order it needs

    if have_torch:
        import torch

    def block(name, idx_list):
        step, backend, _ = contenders[name]
        t0 = time.perf_counter()
        with kernels.backend(backend or kernels.get_backend()):
            for idx in idx_list:
                step(x[idx], y[idx])
        return time.perf_counter() - t0

    # The (possibly shortened) epoch is cut into chunks of about 50 steps, and the contenders take
    # turns chunk by chunk (in a rotating order), so that a burst of load from elsewhere on the
    # machine hits all of them alike instead of spoiling one contender's whole epoch.
    chunks = [timed[i : i + CHUNK] for i in range(0, len(timed), CHUNK)]
    times = {name: np.zeros((rounds, len(chunks))) for name in contenders}  # seconds per (round, chunk)
    previous = (numba.get_num_threads(), torch.get_num_threads() if have_torch else None)
    try:
        # each phase sets its thread count once (switching it before every block costs PyTorch dearly)
        for phase, threads in ((0, THREADS), (1, THREADS), (2, 1)):
            names = [name for name, c in contenders.items() if c[2] == phase]
            numba.set_num_threads(threads)
            if have_torch:
                torch.set_num_threads(threads)
            for name in names:  # warm-up: compile kernels, fault in memory, start thread pools
                block(name, batches[:30])
            for r in range(rounds):
                for c, chunk in enumerate(chunks):
                    k = (r * len(chunks) + c) % len(names)
                    for name in names[k:] + names[:k]:
                        time.sleep(PAUSE)  # let the previous contender's idle threads stop spinning
                        times[name][r, c] = block(name, chunk)
    finally:  # leave the thread counts as we found them
        numba.set_num_threads(previous[0])
        if have_torch:
            torch.set_num_threads(previous[1])
    return times


def _table(sec, best, have_torch, rounds, n_timed, steps_per_epoch, quick):
    """The printed table: median and best seconds per epoch for each contender, and the ratios."""
    how = (f"first {n_timed} of {steps_per_epoch} steps timed, extrapolated to a full epoch (quick)"
           if quick else f"full epochs of {steps_per_epoch} steps")
    lines = [
        f"MNIST training epoch: {'-'.join(map(str, SIZES))} ReLU, cross-entropy, SGD momentum {MOMENTUM}, "
        f"lr {LR}, batch {BATCH}",
        f"median over {rounds} rounds of interleaved {CHUNK}-step blocks; {how}; torch threads {THREADS}",
        "(best: the sum of each block's fastest round, an estimate for a quiet machine)",
        "",
        f"{'contender':<12}{'s/epoch':>10}{'(best)':>9}{'vs numpy':>10}{'vs torch':>10}",
    ]
    for name, value in sec.items():
        ref = "torch 1T" if name.endswith("1T") else "torch"
        vs_torch = f"{value / sec[ref]:.2f}x" if have_torch else "-"
        lines.append(f"{name:<12}{value:>10.2f}{best[name]:>9.2f}{value / sec['numpy']:>9.2f}x{vs_torch:>10}")
    lines.append("(1T rows: one thread each, compared with each other)")
    lines.append("")
    if have_torch:
        lines.append(f"ours / torch = {sec['ours'] / sec['torch']:.2f} at {THREADS} threads (best rounds: "
                     f"{best['ours'] / best['torch']:.2f}), {sec['ours 1T'] / sec['torch 1T']:.2f} at 1 thread "
                     f"(target <= 1.5)")
    else:
        lines.append("(torch not installed: no PyTorch column; pip install torch==2.13.0)")
    return "\n".join(lines)
