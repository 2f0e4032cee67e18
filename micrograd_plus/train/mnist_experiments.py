"""Experiments that answer the questions the 3Blue1Brown videos raise about the MNIST network.

Each function computes numbers (so it can be tested and reused); :func:`run_experiments` draws
them with :mod:`micrograd_plus.viz`. ``micrograd-plus mnist --experiments all`` runs them
after training.

* **"Why do we have confidence that these layers work?"** -- :func:`first_layer_weights` and
  :func:`mean_hidden_activations`: what each first-layer neuron responds to (its 784 weights seen
  as a 28x28 image) and how strongly each hidden neuron fires, on average, for each digit.
  The video hoped for edge and loop detectors; the weights of a trained network look mostly
  like noise with a faint structure -- it found *a* solution, not the one we imagined.
* **"It identifies numbers but can never draw them"** -- :func:`dream`: start from a blank image
  and follow the gradient of one output neuron's log-probability *with respect to the input
  pixels*. The network becomes all but certain the result is that digit, yet to us it is a smear.
* **"Give it nonsense and it confidently says an answer"** -- :func:`noise_confidence`: feed
  uniform random noise; softmax always sums to 1, so the network must pick something, and it
  often does so with high confidence.
* **Why the dreams look like no digit** -- :func:`most_similar_images`: how alike an image is to the
  closest of the training digits. The network models p(label | image) only, so the images it is
  surest about may lie far from every real digit.
* **"Why trust the layers?"**, continued -- :func:`accuracy_curves` (training and test accuracy
  after every epoch: with shuffled labels the training accuracy climbs while the test accuracy stays
  at chance, the network memorises) and :func:`best_match_similarity` (do two runs from different
  seeds learn the same first-layer neurons?).
* **Gradient descent versus stochastic gradient descent** -- :func:`gd_vs_sgd`: full-batch steps
  (exact gradient, expensive) against mini-batch steps (noisy gradient, cheap), loss against
  wall-clock time.
"""

import time
from pathlib import Path

import numpy as np

from micrograd_plus import functional as F, optim, viz
from micrograd_plus.models.mlp import layer_activations, linear_layers, mnist_classifier, predict_proba
from micrograd_plus.random import get_generator
from micrograd_plus._tensor import no_grad, Tensor

EXPERIMENTS = ("weights", "dream", "noise", "gd-vs-sgd")


def first_layer_weights(model):
    """The first Linear layer's weights, ``(hidden, 784)``: row ``j`` is neuron ``j``'s pattern."""

    return linear_layers(model)[0].weight.numpy().copy()


def mean_hidden_activations(model, x, y):
    """For each hidden layer, the mean activation of each neuron over the images of each digit.

    Args:
        model: an MNIST MLP. x: ``(N, 784)`` images. y: ``(N,)`` labels (all 10 digits present).

    Returns:
        a list with one ``(10, hidden)`` array per hidden layer.
    """

    model.eval()
    acts = layer_activations(model, x)[:-1]  # hidden layers only, each (N, h)
    y = np.asarray(y)
    missing = sorted(set(range(10)) - set(np.unique(y).tolist()))
    if missing:
        raise ValueError(f"mean_hidden_activations needs images of every digit; missing {missing}")
    return [np.stack([a[y == d].mean(axis=0) for d in range(10)]) for a in acts]  # each (10, h)


def dream(model, digits=range(10), steps=200, step_size=0.5, start=0.0):
    """Gradient ascent on the *input*: find images that the network is sure show each digit.

    For each digit ``d`` we repeat ``x <- clip(x + step_size * g / |g|, 0, 1)`` where ``g`` is the
    gradient of ``log softmax(model(x))[d]`` with respect to the pixels ``x`` (the same
    backpropagation as training, only now the weights stay fixed and the image moves). The step
    has a fixed length ``step_size`` (in pixel units, Euclidean), and clipping keeps pixels in [0, 1].

    Args:
        model: a trained MNIST MLP (left unchanged; its ``.grad`` are cleared afterwards).
        digits: which output neurons to maximise.
        steps: number of ascent steps. start: initial grey level of every pixel.

    Returns:
        ``(images, confidences)``: ``(len(digits), 784)`` float32 images and the softmax
        probability the network gives each image's target digit.
    """

    digits = np.asarray(list(digits), dtype=np.int64)  # (D,)
    x = np.full((len(digits), 784), float(start), dtype=np.float32)  # (D, 784)
    was_training = model.training
    model.eval()
    try:
        for _ in range(steps):
            xt = Tensor(x, requires_grad=True)
            logits = model(xt)  # (D, 10)
            # minimising cross-entropy = maximising the log-probability of the target digit
            cost = F.cross_entropy(logits, digits, reduction="sum")
            cost.backward()
            g = -xt.grad.numpy()  # (D, 784), uphill for log p(d | x)
            norm = np.linalg.norm(g, axis=1, keepdims=True) + 1e-12  # (D, 1)
            x = np.clip(x + step_size * g / norm, 0.0, 1.0).astype(np.float32)
        with no_grad():
            probs = F.softmax(model(Tensor(x)), dim=-1).numpy()  # (D, 10)
    finally:
        model.zero_grad()
        model.train(was_training)
    return x, probs[np.arange(len(digits)), digits]


def noise_confidence(model, n=2000, generator=0):
    """The network's top softmax probability for ``n`` images of uniform random noise.

    Returns:
        ``(confidence (n,), predicted digit (n,))``.
    """

    rng = get_generator(generator)
    noise = rng.random((n, 784), dtype=np.float32)  # (n, 784) in [0, 1)
    probs = predict_proba(model, noise)  # (n, 10)
    return probs.max(axis=1), probs.argmax(axis=1)


def real_confidence(model, x):
    """The network's top softmax probability for each real image in ``x`` (``(N, 784)`` -> ``(N,)``)."""

    return predict_proba(model, x).max(axis=1)


def most_similar_images(x, reference, chunk=4000):
    """For each image of ``x``, the image of ``reference`` most alike in shape: the largest cosine.

    The cosine similarity of two images (784 numbers each) is 1 when one is the other scaled, and
    ignores how bright they are overall -- a faint copy of a digit still matches it. Real test
    digits have a training digit at a cosine of about 0.9; an image that lies off the data has none.

    Args:
        x: ``(N, 784)`` images. reference: ``(M, 784)`` images (e.g. the 60,000 training digits).
        chunk: how many reference images are compared at once (bounds the memory: N x chunk floats).

    Returns:
        ``(index (N,), cosine (N,))``: the position in ``reference`` of each image's best match and
        their cosine similarity (float64; 0 for an all-black image, which has no direction).
    """

    x = np.asarray(x, dtype=np.float32)  # (N, 784)
    reference = np.asarray(reference, dtype=np.float32)  # (M, 784)
    if x.ndim != 2 or reference.ndim != 2 or x.shape[1] != reference.shape[1] or len(reference) == 0:
        raise ValueError(f"most_similar_images needs (N, D) images and a non-empty (M, D) reference, got shapes "
                         f"{x.shape} and {reference.shape}")

    def unit(a):  # (n, D) rows scaled to length 1 (an all-zero row stays zero)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    ux = unit(x)  # (N, D)
    best = np.full(len(x), -np.inf)  # (N,) best cosine so far
    index = np.zeros(len(x), dtype=np.int64)  # (N,)
    for start in range(0, len(reference), chunk):
        cos = ux @ unit(reference[start:start + chunk]).T  # (N, m): one matrix product per chunk
        j = cos.argmax(axis=1)  # (N,)
        c = cos[np.arange(len(x)), j].astype(np.float64)  # (N,)
        better = c > best
        best[better], index[better] = c[better], start + j[better]
    return index, best


def best_match_similarity(a, b):
    """How well each row of ``a`` is matched by some row of ``b``: the largest ``|cosine|``.

    Used on the first-layer weights of two networks trained from different seeds: hidden neurons
    have no fixed order (any permutation of them computes the same function), so each neuron of one
    run is compared with its best partner in the other. 1 means the same pattern (up to sign and
    scale); for random patterns in 784 dimensions it is about 0.1.

    Args:
        a: ``(H, D)`` and b: ``(K, D)`` float arrays, one pattern per row.

    Returns:
        ``(H,)`` float64: for each row of ``a``, ``max_k |cos(a_h, b_k)|``.
    """

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"best_match_similarity needs (H, D) and (K, D) arrays, got shapes {a.shape} and {b.shape}")
    ua = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)  # (H, D) unit rows
    ub = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)  # (K, D)
    return np.abs(ua @ ub.T).max(axis=1)  # (H,)


def accuracy_curves(x_train, y_train, x_test, y_test, hidden=(256,), activation="relu", epochs=30, lr=0.05,
                    momentum=0.9, batch_size=50, seed=0, eval_every=1):
    """Train a fresh MLP by mini-batch SGD and record its accuracy on both sets as it learns.

    The experiment at the end of the gradient-descent video: with the labels of ``y_train``
    shuffled (nothing left to learn), a wide enough network still drives its *training* accuracy
    up -- it memorises each image's arbitrary label -- while its *test* accuracy stays at chance.
    With the true labels both rise. The learning rate is constant, so only the labels differ
    between two such runs.

    Args:
        x_train, y_train: ``(N, 784)`` float32 images and ``(N,)`` int labels (shuffled or not).
        x_test, y_test: ``(M, 784)`` and ``(M,)``, scored with the true labels.
        hidden, activation: the network (:func:`~micrograd_plus.models.mlp.mnist_classifier`).
        epochs: passes over ``x_train``. lr, momentum, batch_size: the SGD settings.
        seed: initial weights and batch order. eval_every: measure after every this many epochs.

    Returns:
        dict with ``epoch`` (E,) int, ``train_accuracy`` (E,) and ``test_accuracy`` (E,) float
        (epoch 0 is the untrained network), and the trained ``model``.
    """

    x_train = np.ascontiguousarray(x_train, dtype=np.float32)
    y_train = np.asarray(y_train, dtype=np.int64)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError(f"images and labels differ in number: {len(x_train)} and {len(y_train)} for training, "
                         f"{len(x_test)} and {len(y_test)} for testing")
    rng = np.random.default_rng(seed)
    model = mnist_classifier(hidden, activation, generator=rng)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def accuracy(x, y):
        return float((predict_proba(model, x).argmax(axis=1) == np.asarray(y)).mean())

    rows = [(0, accuracy(x_train, y_train), accuracy(x_test, y_test))]
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(x_train))  # (N,)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(Tensor(x_train[idx])), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % eval_every == 0 or epoch == epochs:
            rows.append((epoch, accuracy(x_train, y_train), accuracy(x_test, y_test)))
    model.eval()
    epoch_, train_acc, test_acc = (np.asarray(c) for c in zip(*rows))
    return {"epoch": epoch_, "train_accuracy": train_acc, "test_accuracy": test_acc, "model": model}


def _full_loss(model, x, y):

    with no_grad():
        return float(F.cross_entropy(model(Tensor(x)), y).item())


def gd_vs_sgd(x, y, seconds=10.0, hidden=(64,), activation="relu", gd_lr=0.5, sgd_lr=0.1, batch_size=64,
              evals=40, seed=0):
    """Train two identical networks for the same wall-clock time: one by full-batch gradient
    descent, one by mini-batch stochastic gradient descent, recording the training-set loss.

    Gradient descent computes the exact gradient of the cost over all ``len(x)`` images before
    every step; SGD estimates it from ``batch_size`` images, so it takes ``len(x) / batch_size``
    times as many (noisier) steps in the same time. Neither uses momentum. The time spent
    measuring the full loss for the plot is excluded from the clock.

    Args:
        x, y: training images ``(N, 784)`` and labels ``(N,)`` (a subset keeps this quick).
        seconds: training-time budget of each method.
        hidden, activation: the network (the same initial weights for both).
        gd_lr, sgd_lr: their learning rates. evals: about how many loss measurements per curve.

    Returns:
        ``{"gradient descent (full batch)": (seconds, losses), "SGD (batch B)": (seconds, losses)}``,
        each a pair of float64 arrays starting at time 0 with the initial loss.
    """

    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    curves = {}
    for label, batch, lr in (("gradient descent (full batch)", len(x), gd_lr),
                             (f"SGD (batch {batch_size})", batch_size, sgd_lr)):
        model = mnist_classifier(hidden, activation, generator=np.random.default_rng(seed))
        opt = optim.SGD(model.parameters(), lr=lr)
        rng = np.random.default_rng(seed)
        clock, times, losses = 0.0, [0.0], [_full_loss(model, x, y)]
        next_eval = seconds / evals
        order, pos = rng.permutation(len(x)), 0
        while clock < seconds:
            t0 = time.perf_counter()
            if pos + batch > len(x):
                order, pos = rng.permutation(len(x)), 0
            idx = order[pos : pos + batch]
            pos += batch
            loss = F.cross_entropy(model(Tensor(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            clock += time.perf_counter() - t0
            if clock >= next_eval or clock >= seconds:
                times.append(clock)
                losses.append(_full_loss(model, x, y))
                next_eval = clock + seconds / evals
        curves[label] = (np.asarray(times), np.asarray(losses))
    return curves


def run_experiments(model, x_test, y_test, out_dir, which=EXPERIMENTS, x_train=None, y_train=None,
                    seconds=10.0, log=print):
    """Run the chosen experiments on a trained ``model`` and save one PNG per picture in ``out_dir``.

    Args:
        which: names from :data:`EXPERIMENTS`. ``gd-vs-sgd`` trains its own small networks on the
            first 10,000 of ``x_train``/``y_train`` for ``seconds`` each.

    Returns:
        ``{name: path}`` of the PNG files written.
    """

    say = log or (lambda *a: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(which) - set(EXPERIMENTS))
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {EXPERIMENTS}")
    written = {}
    if "weights" in which:
        written["weights"] = out_dir / "first_layer_weights.png"
        viz.plot_weight_images(first_layer_weights(model), path=written["weights"])
        written["activations"] = out_dir / "hidden_activations.png"
        viz.plot_hidden_activations(mean_hidden_activations(model, x_test, y_test), path=written["activations"])
        say(f"first-layer weights -> {written['weights']}, hidden activations per digit -> {written['activations']}")
    if "dream" in which:
        images, conf = dream(model)
        written["dream"] = out_dir / "dreams.png"
        viz.plot_dreams(images, conf, path=written["dream"])
        say(f"gradient ascent on the input: mean confidence {100 * conf.mean():.1f}% in images that look like "
            f"no digit -> {written['dream']}")
    if "noise" in which:
        noise_conf, noise_pred = noise_confidence(model)
        real_conf = real_confidence(model, x_test)
        written["noise"] = out_dir / "noise_confidence.png"
        viz.plot_confidence_histogram(noise_conf, real_conf, path=written["noise"])
        counts = np.bincount(noise_pred, minlength=10)
        say(f"random noise: median top confidence {100 * np.median(noise_conf):.1f}% "
            f"({100 * (noise_conf > 0.9).mean():.0f}% of noise images above 90%; favourite answer "
            f"{int(counts.argmax())}, chosen for {100 * counts.max() / counts.sum():.0f}%) -> {written['noise']}")
    if "gd-vs-sgd" in which:
        if x_train is None:
            raise ValueError("the gd-vs-sgd experiment needs training images (x_train, y_train)")
        curves = gd_vs_sgd(x_train[:10000], y_train[:10000], seconds=seconds)
        written["gd-vs-sgd"] = out_dir / "gd_vs_sgd.png"
        viz.plot_loss_vs_time(curves, path=written["gd-vs-sgd"])
        finals = ", ".join(f"{k}: {v[1][-1]:.3f}" for k, v in curves.items())
        say(f"after {seconds:g} s each, training loss {finals} -> {written['gd-vs-sgd']}")
    return written
