"""Benchmark: one epoch of MNIST training, ours against numpy and PyTorch, each as its users run it.

Every contender trains the same network the same way: 784-128-10 with ReLU, cross-entropy, SGD
with momentum 0.9, learning rate 0.1, batch size 64, one pass over the 60,000 training images
(938 steps, the last one of 32 images). A step is the whole thing: gather the batch, forward,
loss, backward, optimiser update.

* **ours** -- the library's own MNIST training, as ``micrograd-plus mnist --hidden 128
  --batch-size 64 --learning-rate 0.1 --momentum 0.9 --no-nesterov --schedule constant`` runs it
  (:func:`micrograd_plus.train.mnist.train` with :func:`our_config`): the shared training loop
  with its guards, logging and shuffling, on the numba kernels (the default backend). The epoch's
  time is the one the loop itself reports (the sum of its steps; the test-set evaluation after
  each epoch is not counted, for anyone);
* **ours+BLAS** -- the same with the ``"numpy"`` kernel backend (products by numpy's BLAS),
  which shows what everything but the kernels costs;
* **numpy** -- the forward and backward passes written out by hand with numpy (no autograd at
  all): the floor for a Python loop over BLAS;
* **torch** -- the loop a PyTorch user writes (``nn.Sequential``, ``optim.SGD``, a shuffled index
  per epoch), with PyTorch's own thread count and OpenMP settings (if installed);
* **ours 1T**, **torch 1T** -- ours and torch again, each told to use one thread by this
  benchmark (``numba.set_num_threads(1)``, ``torch.set_num_threads(1)``): a comparison that other
  processes on a busy machine disturb much less.

**Each contender runs alone, in fresh processes of its own, with its own defaults**
(:func:`~micrograd_plus.bench._process.as_users_run_it`): no library shares a process with
another, and none gets a setting another chose (this library's ``GOMP_SPINCOUNT``, a thread
count) -- sharing a process or an OpenMP policy slowed PyTorch 1.5x on an Intel Xeon (issue 26),
which flattered us. The contenders take turns (ours, torch, ..., ours, torch, ...), each process
training one warm-up epoch (compilation, page faults, thread pools) and then the timed one, so
that a burst of load from elsewhere hits all of them alike; the table shows the median seconds
per epoch over all turns, the fastest epoch, and ratios of the medians. ``quick=True`` trains
epochs of the first 150 steps and extrapolates to 938 (and says so). Target: ours at most 0.8x
PyTorch's time (issue 26).

On a shared 2-core machine, two-thread timings are the most sensitive to other processes: compare
the one-thread rows, check the load printed above the table, and rerun before believing a
surprising ratio.
"""

import time

import numpy as np

SIZES = (784, 128, 10)
LR, MOMENTUM, BATCH = 0.1, 0.9, 64


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
    w1, b1 = np.array(weights["layers.0.weight"]), np.array(weights["layers.0.bias"])  # (128, 784), (128,): copies
    w2, b2 = np.array(weights["layers.2.weight"]), np.array(weights["layers.2.bias"])  # (10, 128), (10,)
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
    """Time MNIST training epochs of each contender, each alone in processes of its own; print and
    return the table.

    Args:
        repeats: timed epochs per contender (one per turn, median over all); default 3 (2 with ``quick``).
        quick: epochs of the first 150 steps, extrapolated to the 938-step epoch.
    """
    import os

    rounds = repeats or (2 if quick else 3)
    steps = 150 if quick else STEPS_PER_EPOCH
    samples = _samples_alone(rounds, steps)
    scale = STEPS_PER_EPOCH / steps  # 1.0 unless quick
    sec = {name: float(np.median(v)) * scale for name, v in samples.items()}
    best = {name: float(np.min(v)) * scale for name, v in samples.items()}
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    table = _table(sec, best, "torch" in sec, rounds, steps, STEPS_PER_EPOCH, quick, load)
    print(table)
    return {"seconds_per_epoch": sec, "best": best, "load": load, "quick": quick}


#: Steps of a full epoch: 60,000 images in batches of 64 (the last one of 32).
STEPS_PER_EPOCH = 938
#: name -> (child function, threads the benchmark sets: None leaves the library's own default).
CONTENDERS = {
    "ours": ("_our_epochs", None), "torch": ("_torch_epochs", None),
    "ours+BLAS": ("_our_blas_epochs", None), "numpy": ("_numpy_epochs", None),
    "ours 1T": ("_our_epochs", 1), "torch 1T": ("_torch_epochs", 1),
}


def _have_torch():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _samples_alone(rounds, steps):
    """Seconds per epoch of every contender, each in fresh processes of its own, taking ``rounds``
    turns in a rotating order, one timed epoch a turn. torch is left out when it is not installed.
    Returns ``{name: [seconds, ...]}``."""
    from micrograd_plus.bench._process import as_users_run_it  # deferred: the CLI imports this module for its docstring

    names = [n for n in CONTENDERS if "torch" not in n or _have_torch()]
    samples = {n: [] for n in names}
    for turn in range(rounds):
        for name in names[turn % len(names):] + names[:turn % len(names)]:
            function, threads = CONTENDERS[name]
            samples[name] += as_users_run_it(__name__, function, 1, steps, threads)
    return samples


def our_config(epochs, steps=STEPS_PER_EPOCH):
    """The :class:`~micrograd_plus.train.config.MNISTConfig` of this benchmark's network and
    optimiser, training ``epochs`` epochs of ``steps`` steps (the first ``steps * 64`` images)."""
    from micrograd_plus.train.mnist import MNISTConfig  # deferred: loads numba in the child only

    limit = None if steps >= STEPS_PER_EPOCH else steps * BATCH
    return MNISTConfig(hidden=(SIZES[1],), activation="relu", loss="cross_entropy", optimizer="sgd", learning_rate=LR,
                       momentum=MOMENTUM, nesterov=False, schedule="constant", batch_size=BATCH,
                       epochs=epochs, seed=0, limit=limit, test_limit=1000)


def _our_epochs(epochs, steps, threads, backend="numba"):
    """(Child process) seconds of each of ``epochs`` epochs of the library's own MNIST training,
    after one warm-up epoch, as the training loop reports them."""
    import numba

    from micrograd_plus import kernels  # deferred: loads numba in this child only
    from micrograd_plus.train.mnist import train  # deferred: loads numba in this child only

    if threads:
        numba.set_num_threads(threads)
    with kernels.backend(backend):
        result = train(our_config(epochs + 1, steps), progress=False, log=None)
    return [row["seconds"] for row in result.evals[1:]]


def _our_blas_epochs(epochs, steps, threads):
    """(Child process) :func:`_our_epochs` with the ``"numpy"`` kernel backend (BLAS products)."""
    return _our_epochs(epochs, steps, threads, backend="numpy")


def _torch_epochs(epochs, steps, threads):
    """(Child process) seconds of each of ``epochs`` epochs of the training loop a PyTorch user
    writes, after one warm-up epoch; PyTorch's own defaults unless ``threads`` is given."""
    import torch  # first, with nothing of ours loaded: its thread pool as its users get it

    if threads:
        torch.set_num_threads(threads)
    x, y, _ = _epoch_batches()
    X, Y = torch.from_numpy(x[: steps * BATCH]), torch.from_numpy(y[: steps * BATCH])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
                                torch.nn.Linear(SIZES[1], SIZES[2]))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    seconds = []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), BATCH):
            idx = order[i : i + BATCH]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - t0)
    return seconds[1:]


def _numpy_epochs(epochs, steps, threads):
    """(Child process) seconds of each of ``epochs`` epochs of the hand-written numpy training,
    after one warm-up epoch (numpy's BLAS with its own thread count)."""
    from micrograd_plus import nn  # deferred: loads numba in this child only

    x, y, batches = _epoch_batches()
    batches = batches[:steps]
    step = _numpy_step_fn(nn.MLP(list(SIZES), activation="relu", generator=np.random.default_rng(0)).state_dict())
    seconds = []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        for idx in batches:
            step(x[idx], y[idx])
        seconds.append(time.perf_counter() - t0)
    return seconds[1:]


def _epoch_batches():
    """The training set as float32 ``x`` (60000, 784) and int64 ``y`` (60000,), and one epoch's
    938 batches of row indices in a fixed shuffled order (seed 0)."""
    from micrograd_plus.data import load_mnist, mnist_to_float  # deferred: loads numba in the child only

    images, labels = load_mnist("train")
    x = mnist_to_float(images)  # (60000, 784) float32
    y = labels.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    batches = [order[i : i + BATCH] for i in range(0, len(x), BATCH)]  # 938 index arrays
    return x, y, batches


def _table(sec, best, have_torch, rounds, n_timed, steps_per_epoch, quick, load):
    """The printed table: median and best seconds per epoch for each contender, and the ratios."""
    how = (f"epochs of the first {n_timed} of {steps_per_epoch} steps, extrapolated to a full epoch (quick)"
           if quick else f"full epochs of {steps_per_epoch} steps")
    lines = [
        f"MNIST training epoch: {'-'.join(map(str, SIZES))} ReLU, cross-entropy, SGD momentum {MOMENTUM}, "
        f"lr {LR}, batch {BATCH}",
        f"each contender alone in fresh processes of its own with its own defaults, taking turns; median of "
        f"{rounds} epochs each (after a warm-up epoch per process); {how}; load average {load}",
        "(ours: the library's own training loop, as `micrograd-plus mnist` runs it; torch: the loop its users write)",
        "",
        f"{'contender':<12}{'s/epoch':>10}{'(best)':>9}{'vs numpy':>10}{'vs torch':>10}",
    ]
    for name, value in sec.items():
        ref = "torch 1T" if name.endswith("1T") else "torch"
        vs_torch = f"{value / sec[ref]:.2f}x" if have_torch else "-"
        lines.append(f"{name:<12}{value:>10.2f}{best[name]:>9.2f}{value / sec['numpy']:>9.2f}x{vs_torch:>10}")
    lines.append("(1T rows: one thread each, set by this benchmark for both, compared with each other)")
    lines.append("")
    if have_torch:
        lines.append(f"ours / torch = {sec['ours'] / sec['torch']:.2f} with each library's defaults (best epochs: "
                     f"{best['ours'] / best['torch']:.2f}), {sec['ours 1T'] / sec['torch 1T']:.2f} at 1 thread "
                     f"(target <= 0.8)")
    else:
        lines.append("(torch not installed: no PyTorch column; pip install torch==2.13.0)")
    return "\n".join(lines)
