"""Logistic regression by hand, in the style of "What is torch.nn really?": weights as plain tensors,
the update written out under no_grad, the gradient zeroed in place."""

import math

import numpy as np
import torch

rng = np.random.default_rng(0)
x_train = torch.from_numpy(rng.standard_normal((256, 20)).astype(np.float32))
true_w = rng.standard_normal((20, 4)).astype(np.float32)
y_train = torch.from_numpy((x_train.numpy() @ true_w).argmax(axis=1))

weights = torch.from_numpy((rng.standard_normal((20, 4)) / math.sqrt(20)).astype(np.float32))
weights.requires_grad_()
bias = torch.zeros(4, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


lr, bs = 0.5, 64
for epoch in range(3):
    for i in range((x_train.shape[0] - 1) // bs + 1):
        xb, yb = x_train[i * bs : i * bs + bs], y_train[i * bs : i * bs + bs]
        loss = nll(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
    print(f"loss {epoch} {nll(model(x_train), y_train).item():.6f}")
