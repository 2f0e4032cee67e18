"""Benchmark: the MNIST CNN's training step, ours against PyTorch; the convolution kernels against BLAS.

**The step.** The network of ``micrograd-plus mnist --preset cnn``
(:class:`~micrograd_plus.models.cnn.MNISTConvNet`: 5x5 convolutions of 16 and 32 filters, each
with ReLU and 2x2 max-pooling, then 1568-128-10), batch 64, cross-entropy, SGD with Nesterov
momentum 0.9 -- the whole step: gather the batch, forward, loss, backward, update. Each library
runs in a fresh process of its own with its own defaults (ours: the numba kernels, threads while
the cores are free; PyTorch: its own thread count, OpenMP settings and convolution backend, never
this library's ``GOMP_SPINCOUNT``: :func:`~micrograd_plus.bench._process.as_users_run_it`), from the same initial
weights on the same batches. In each process: a warm-up of :data:`WARMUP` steps, then
``repeats`` blocks of :data:`BLOCK` steps with a pause before each; the median step of every
block, and the median over blocks. The processes alternate (ours, torch, ours, torch ...) so that
a burst of load from elsewhere hits both. Target: ours at most 1.5x PyTorch's time.

**The kernels.** Each convolution of that network, forward (im2col, ``W @ cols``, the result put
back to (N, C, H, W)) and backward (``dW``, and ``dx`` through col2im where the layer has an
input gradient), timed in this process, ours interleaved with the numpy reference (numpy's
im2col and ``np.matmul``, i.e. OpenBLAS), as GFLOP/s of the products (2 * O * C*kH*kW * N*OH*OW
a product): the figure says how close the whole layer, gathers included, comes to BLAS.
"""

import statistics
import time

import numpy as np

from micrograd_plus.bench._process import as_users_run_it

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
    """In a fresh process: ``library``'s ("ours" or "torch") median step seconds of each of
    ``blocks`` timed blocks, and the losses of the first steps (so that the caller can check that
    both libraries computed the same thing)."""
    if library == "torch":
        import torch  # noqa: F401  (first: our kernels set GOMP_SPINCOUNT when imported, and PyTorch's
        # OpenMP runtime reads it when torch loads; its users have none)
    weights, batches = _weights_and_batches(WARMUP + blocks * BLOCK)
    step = (_ours if library == "ours" else _torch)(weights)
    losses = [step(*batches[i]) for i in range(WARMUP)]  # warm-up: compile, fault in memory, start threads
    medians, k = [], WARMUP
    for _ in range(blocks):
        time.sleep(PAUSE)
        times = []
        for _ in range(BLOCK):
            t0 = time.perf_counter()
            step(*batches[k])
            times.append(time.perf_counter() - t0)
            k += 1
        medians.append(statistics.median(times))
    return {"block_medians": medians, "first_losses": losses[:3]}


def kernel_table(repeats=7):
    """GFLOP/s of each convolution of the network, ours and numpy's (im2col + np.matmul), forward
    and backward, batch 64, float32; returns ``{name: (ours, numpy)}``."""
    from micrograd_plus.kernels import conv as K  # deferred: the bench CLI imports this module for its docstring

    rng = np.random.default_rng(0)
    layers = {"conv1 1->16 5x5 28x28": ((BATCH, 1, 28, 28), (16, 1, 5, 5), False),
              "conv2 16->32 5x5 14x14": ((BATCH, 16, 14, 14), (32, 16, 5, 5), True)}
    args = ((1, 1), (2, 2, 2, 2), (1, 1), 1)
    out = {}
    for name, (xs, ws, need_x) in layers.items():
        x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
        b = np.zeros(ws[0], np.float32)
        flops = 2 * ws[0] * int(np.prod(ws[1:])) * xs[0] * xs[2] * xs[3]  # one product
        for what, n_products in (("forward", 1), ("backward", 2 if need_x else 1)):
            runs = {"ours": [], "numpy": []}
            for r in range(repeats + 1):  # the first round warms up
                for who in (("ours", "numpy") if r % 2 else ("numpy", "ours")):
                    fwd, bwd = ((K.conv2d_forward, K.conv2d_backward) if who == "ours" else
                                (K.conv2d_forward_reference, K.conv2d_backward_reference))
                    y, cols = fwd(x, w, b, *args)
                    g = np.ones_like(y)
                    t0 = time.perf_counter()
                    if what == "forward":
                        fwd(x, w, b, *args)
                    else:
                        bwd(g, xs, w, cols, *args, need_x, True, False)
                    if r:
                        runs[who].append(time.perf_counter() - t0)
            rate = {who: n_products * flops / statistics.median(t) / 1e9 for who, t in runs.items()}
            out[f"{name} {what}"] = (rate["ours"], rate["numpy"])
    return out


def run(repeats=None, quick=False):
    """Time the CNN step in alternating child processes, then the kernels; print and return the tables."""
    rounds = 2 if quick else 3
    blocks = repeats or (2 if quick else 4)
    have_torch = True
    try:
        import torch  # noqa: F401
    except ImportError:
        have_torch = False
    results = {"ours": [], "torch": []}
    for r in range(rounds):
        for library in (("ours", "torch") if r % 2 == 0 else ("torch", "ours")):
            if library == "torch" and not have_torch:
                continue
            # alone, with the user's environment: no GOMP_SPINCOUNT of ours for PyTorch (issue 26)
            res = as_users_run_it("micrograd_plus.bench.cnn", "time_steps", library, blocks)
            results[library].extend(res["block_medians"])
            results.setdefault(library + "_losses", res["first_losses"])
    ours_ms = 1e3 * statistics.median(results["ours"])
    lines = [f"MNIST CNN training step: conv5x5({CHANNELS[0]})-pool-conv5x5({CHANNELS[1]})-pool-{HIDDEN[0]}-10, "
             f"batch {BATCH}, SGD Nesterov momentum {MOMENTUM}",
             f"each library in its own process, {rounds} processes each, alternating; {blocks} blocks of {BLOCK} "
             f"steps a process after {WARMUP} warm-up steps; median of the blocks' median steps", "",
             f"{'contender':<10}{'ms/step':>10}{'(best block)':>14}"]
    lines.append(f"{'ours':<10}{ours_ms:>10.1f}{1e3 * min(results['ours']):>14.1f}")
    table = {"ours_ms": ours_ms}
    if have_torch:
        torch_ms = 1e3 * statistics.median(results["torch"])
        lines.append(f"{'torch':<10}{torch_ms:>10.1f}{1e3 * min(results['torch']):>14.1f}")
        lines += ["", f"ours / torch = {ours_ms / torch_ms:.2f} (best blocks: "
                      f"{min(results['ours']) / min(results['torch']):.2f}) (target <= 1.5)",
                  f"first losses, ours {np.round(results['ours_losses'], 4).tolist()}, "
                  f"torch {np.round(results['torch_losses'], 4).tolist()}"]
        table.update(torch_ms=torch_ms, ratio=ours_ms / torch_ms)
    else:
        lines.append("(torch not installed: no PyTorch row; pip install torch==2.13.0)")
    rates = kernel_table(3 if quick else 7)
    lines += ["", "the network's convolutions, batch 64, float32: GFLOP/s of the products (whole layer timed)",
              f"{'layer':<36}{'ours':>8}{'numpy+BLAS':>12}{'ratio':>8}"]
    for name, (ours, ref) in rates.items():
        lines.append(f"{name:<36}{ours:>8.1f}{ref:>12.1f}{ours / ref:>7.2f}x")
    table["kernels"] = {k: list(v) for k, v in rates.items()}
    text = "\n".join(lines)
    print(text)
    return table
