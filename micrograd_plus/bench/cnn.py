"""Benchmark: the MNIST CNN's training step, ours against PyTorch; the convolution kernels against BLAS.

**The step.** The network of ``micrograd-plus mnist --preset cnn``
(:class:`~micrograd_plus.models.cnn.MNISTConvNet`: 5x5 convolutions of 16 and 32 filters, each
with ReLU and 2x2 max-pooling, then 1568-128-10), batch 64, cross-entropy, SGD with Nesterov
momentum 0.9 -- the whole step: gather the batch, forward, loss, backward, update. Each library
runs in a fresh process of its own (:func:`~micrograd_plus.bench._process.as_users_run_it`), from the
same initial weights on the same batches, twice over: with its own defaults (ours: the numba
kernels, threads while the cores are free; PyTorch: its own thread count, OpenMP settings and
convolution backend, never this library's ``GOMP_SPINCOUNT``),
timed by the wall clock; and with every thread pool at one thread (:data:`ONE_THREAD`), timed by the
process's CPU time, which load from other processes on a shared machine disturbs far less. In
each process: a warm-up of :data:`WARMUP` steps, then ``repeats`` blocks of :data:`BLOCK` steps
with a pause before each; the median step of every block, and the median over blocks. The
processes alternate (ours, torch, ours, torch ...) so that a burst of load hits both. Target: ours
at most 1.5x PyTorch's time.

**The kernels.** Each convolution of that network (:data:`LAYERS`), each of its three products
-- forward ``y = W @ cols``, the weight gradient ``dW`` and the input gradient ``dX`` -- timed on one
thread in a child process, ours (the whole kernel call: layout changes, im2col and col2im, or
the direct correlations that stride-1 layers of several channels take instead, included) against
numpy's BLAS on the bare product of the same shapes, as
GFLOP/s (2 * O * C*kH*kW * N*OH*OW per product, the same count for all three).
"""

import statistics
import time

import numpy as np

from micrograd_plus.bench import _process
from micrograd_plus.bench._process import as_users_run_it, settings_of_ours

BATCH, LR, MOMENTUM = 64, 0.05, 0.9
WARMUP, BLOCK, PAUSE = 8, 10, 0.2
CHANNELS, HIDDEN = (16, 32), (128,)


def _weights_and_batches(n_batches):
    """Our network's initial weights (seed 0) and ``n_batches`` batches of MNIST training images."""
    from micrograd_plus.data import load_mnist, mnist_to_float  # deferred: each child loads what it needs
    from micrograd_plus.models.cnn import mnist_cnn  # deferred: each child loads what it needs

    images, labels = load_mnist("train")
    order = np.random.default_rng(0).permutation(len(images))[: n_batches * BATCH]
    x = mnist_to_float(images[order]).reshape(-1, 1, 28, 28)  # (n*B, 1, 28, 28)
    y = labels[order].astype(np.int64)
    weights = mnist_cnn(CHANNELS, HIDDEN, generator=np.random.default_rng(0)).state_dict()
    return weights, [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, len(x), BATCH)]


def _ours(weights):
    from micrograd_plus import functional as F, optim  # deferred: loads numba in this child only
    from micrograd_plus.models.cnn import mnist_cnn  # deferred: loads numba in this child only
    from micrograd_plus._tensor import Tensor  # deferred: loads numba in this child only

    model = mnist_cnn(CHANNELS, HIDDEN)
    model.load_state_dict(weights)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)

    def step(xb, yb):
        loss = F.cross_entropy(model(Tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def _torch(weights):
    import torch

    c1, c2 = CHANNELS
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, c1, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c1, c2, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(c2 * 49, HIDDEN[0]), torch.nn.ReLU(), torch.nn.Linear(HIDDEN[0], 10))
    ours = list(weights.values())  # features.0.weight, features.0.bias, ..., classifier...: the same order
    with torch.no_grad():
        for p, w in zip(model.parameters(), ours):
            p.copy_(torch.from_numpy(np.array(w)))
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True)

    def step(xb, yb):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def time_steps(library, blocks):
    """In a fresh process: ``library``'s ("ours" or "torch") median step of each of ``blocks``
    timed blocks, as wall-clock seconds and as this process's CPU seconds, and the losses of the
    first steps (so that the caller can check that both libraries computed the same thing)."""
    if library == "torch":
        import torch  # noqa: F401  (first: our kernels set GOMP_SPINCOUNT when imported, and PyTorch's
        # OpenMP runtime reads it when torch loads; its users have none)
    weights, batches = _weights_and_batches(WARMUP + blocks * BLOCK)
    step = (_ours if library == "ours" else _torch)(weights)
    losses = [step(*batches[i]) for i in range(WARMUP)]  # warm-up: compile, fault in memory, start threads
    wall, cpu, k = [], [], WARMUP
    for _ in range(blocks):
        time.sleep(PAUSE)
        walls, cpus = [], []
        for _ in range(BLOCK):
            t0, c0 = time.perf_counter(), time.process_time()
            step(*batches[k])
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            k += 1
        wall.append(statistics.median(walls))
        cpu.append(statistics.median(cpus))
    return {"wall": wall, "cpu": cpu, "first_losses": losses[:3]}


#: What "one thread" means for every contender, set in its child process before any library
#: loads: numba's, OpenMP's (PyTorch's) and the BLAS libraries' thread pools of one thread each.
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _child(function, *args, one_thread=False):
    """``function(*args)`` of this module in a fresh process, as the library's users run it
    (:func:`~micrograd_plus.bench._process.as_users_run_it`), or with every thread pool at one
    thread (:data:`ONE_THREAD`, the same for both libraries)."""
    if not one_thread:
        return as_users_run_it(__name__, function, *args)
    return _process.in_child(__name__, function, *args, env_defaults=ONE_THREAD,
                    unset=tuple(settings_of_ours()) + tuple(ONE_THREAD))


#: The products of the network's two convolutions, batch 64: x shape, weight shape, and whether
#: the network needs the layer's input gradient (the first layer's input is the image: it does not).
LAYERS = {"conv1 1->16 5x5 28x28": ((BATCH, 1, 28, 28), (16, 1, 5, 5), False),
          "conv2 16->32 5x5 14x14": ((BATCH, 16, 14, 14), (32, 16, 5, 5), True)}


def kernel_table(repeats=7):
    """GFLOP/s of each convolution of the network, float32, on this process's threads: for each
    layer and each of its products (forward ``y = W @ cols``, ``dW``, ``dX``), ours -- the whole
    kernel call as the network makes it (im2col or the direct path, layout changes included) --
    against numpy's BLAS on the bare product
    of the same shapes (``np.matmul``, no gather, no col2im) and against the numpy reference
    layer (numpy's im2col/col2im around ``np.matmul``). Times are CPU time (``process_time``),
    ours and numpy's interleaved. Returns ``{"layer product": (ours, blas, numpy_layer)}``."""
    from micrograd_plus.kernels import conv as K  # deferred: the bench CLI imports this module for its docstring

    rng = np.random.default_rng(0)
    args = ((1, 1), (2, 2, 2, 2), (1, 1), 1)
    out = {}
    for name, (xs, ws, need_x) in LAYERS.items():
        x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
        b = np.zeros(ws[0], np.float32)
        flops = 2 * ws[0] * int(np.prod(ws[1:])) * xs[0] * xs[2] * xs[3]  # every product has the same count
        y, kept = K.conv2d_forward(x, w, b, *args)  # kept for backward: cols, or the padded input (direct layers)
        cols = K.im2col_reference(x, ws[2:], *args[:3])  # (C*KH*KW, OH*OW*N): the bare products' operand
        g = rng.standard_normal(y.shape).astype(np.float32)
        w2, g2 = w.reshape(ws[0], -1), np.ascontiguousarray(g.transpose(1, 2, 3, 0).reshape(ws[0], -1))
        cases = {  # product: (ours, the bare product on BLAS, numpy's reference layer)
            "forward": (lambda: K.conv2d_forward(x, w, b, *args), lambda: w2 @ cols,
                        lambda: K.conv2d_forward_reference(x, w, b, *args)),
            "dW": (lambda: K.conv2d_backward(g, xs, w, kept, *args, False, True, False), lambda: g2 @ cols.T,
                   lambda: K.conv2d_backward_reference(g, xs, w, cols, *args, False, True, False)),
            "dX": (lambda: K.conv2d_backward(g, xs, w, kept, *args, True, False, False), lambda: w2.T @ g2,
                   lambda: K.conv2d_backward_reference(g, xs, w, cols, *args, True, False, False)),
        }
        for what, fns in cases.items():
            runs = [[] for _ in fns]
            for r in range(repeats + 1):  # the first round warms up
                for i in (range(len(fns)) if r % 2 else reversed(range(len(fns)))):
                    t0 = time.process_time()
                    fns[i]()
                    if r:
                        runs[i].append(time.process_time() - t0)
            key = f"{name} {what}" + ("" if need_x or what != "dX" else " (unused: the image needs none)")
            out[key] = tuple(flops / max(statistics.median(t), 1e-9) / 1e9 for t in runs)
    return out


def kernel_table_one_thread(repeats=7):
    """:func:`kernel_table` in this process (meant for a child with :data:`ONE_THREAD`)."""
    return kernel_table(repeats)


def _steps(rounds, blocks, have_torch, one_thread):
    """Alternating child processes, ``rounds`` of each library: ``{library: {"wall": [...],
    "cpu": [...]}, library + "_losses": [...]}``."""
    results = {}
    for r in range(rounds):
        for library in (("ours", "torch") if r % 2 == 0 else ("torch", "ours")):
            if library == "torch" and not have_torch:
                continue
            res = _child("time_steps", library, blocks, one_thread=one_thread)
            mine = results.setdefault(library, {"wall": [], "cpu": []})
            mine["wall"] += res["wall"]
            mine["cpu"] += res["cpu"]
            results.setdefault(library + "_losses", res["first_losses"])
    return results


def run(repeats=None, quick=False):
    """Time the CNN step in alternating child processes -- each library with its own defaults
    (wall time), then each on one thread (CPU time) -- then the kernels; print and return the tables."""
    rounds = 2 if quick else 3
    blocks = repeats or (2 if quick else 4)
    have_torch = True
    try:
        import torch  # noqa: F401
    except ImportError:
        have_torch = False
    modes = {"own defaults (2 threads here), wall ms": (False, "wall"), "one thread each, CPU ms": (True, "cpu")}
    lines = [f"MNIST CNN training step: conv5x5({CHANNELS[0]})-pool-conv5x5({CHANNELS[1]})-pool-{HIDDEN[0]}-10, "
             f"batch {BATCH}, SGD Nesterov momentum {MOMENTUM}",
             f"each library alone in its own process, {rounds} processes each, alternating; {blocks} blocks of {BLOCK} "
             f"steps a process after {WARMUP} warm-up steps; median of the blocks' median steps", "",
             f"{'':<40}{'ours':>8}{'torch':>8}{'ours/torch':>12}{'(best blocks)':>15}"]
    table = {}
    for label, (one_thread, clock) in modes.items():
        res = _steps(rounds, blocks, have_torch, one_thread)
        ours = 1e3 * statistics.median(res["ours"][clock])
        entry = {"ours_ms": ours, "ours_blocks_ms": [1e3 * t for t in res["ours"][clock]]}
        if have_torch:
            theirs = 1e3 * statistics.median(res["torch"][clock])
            best = min(res["ours"][clock]) / min(res["torch"][clock])
            lines.append(f"{label:<40}{ours:>8.1f}{theirs:>8.1f}{ours / theirs:>11.2f}x{best:>14.2f}x")
            entry.update(torch_ms=theirs, ratio=ours / theirs, torch_blocks_ms=[1e3 * t for t in res["torch"][clock]])
            entry["first_losses"] = {"ours": res["ours_losses"], "torch": res["torch_losses"]}
        else:
            lines.append(f"{label:<40}{ours:>8.1f}{'-':>8}")
        table["one_thread" if one_thread else "defaults"] = entry
    if have_torch:
        lines += [f"ours / torch = {table['defaults']['ratio']:.2f} with each library's defaults, "
                  f"{table['one_thread']['ratio']:.2f} at 1 thread (target <= 1.5)",
                  f"first losses, ours {np.round(table['defaults']['first_losses']['ours'], 4).tolist()}, "
                  f"torch {np.round(table['defaults']['first_losses']['torch'], 4).tolist()}"]
    else:
        lines.append("(torch not installed: no PyTorch column; pip install torch==2.13.0)")
    rates = _child("kernel_table_one_thread", 3 if quick else 7, one_thread=True)
    lines += ["", "the network's convolutions, batch 64, float32, one thread (CPU time): GFLOP/s of each product",
              "(ours: the whole kernel call as the network makes it, im2col or the direct correlations included; "
              "BLAS: np.matmul on the bare product of the same shapes; numpy layer: the numpy reference, "
              "im2col/col2im around np.matmul)",
              f"{'layer, product':<58}{'ours':>7}{'BLAS':>7}{'ours/BLAS':>11}{'numpy layer':>13}"]
    for name, (ours, blas, layer) in rates.items():
        lines.append(f"{name:<58}{ours:>7.1f}{blas:>7.1f}{ours / blas:>10.2f}x{layer:>13.1f}")
    table["kernels_one_thread_gflops"] = {k: {"ours": v[0], "blas": v[1], "numpy_layer": v[2]} for k, v in rates.items()}
    text = "\n".join(lines)
    print(text)
    return table
