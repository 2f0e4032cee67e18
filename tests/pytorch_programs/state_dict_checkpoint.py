"""Save a model's and an optimizer's state_dict mid-training with torch.save, load them into fresh
objects with torch.load, and continue: the resumed run's losses are the uninterrupted run's."""

import os
import tempfile

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(6)
x = torch.from_numpy(rng.standard_normal((64, 5)).astype(np.float32))
y = torch.from_numpy(rng.standard_normal((64, 1)).astype(np.float32))
init = {k: torch.from_numpy((rng.standard_normal(s) * 0.3).astype(np.float32))
        for k, s in [("0.weight", (16, 5)), ("0.bias", (16,)), ("2.weight", (1, 16)), ("2.bias", (1,))]}


def make():
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    model.load_state_dict(init)
    return model, torch.optim.Adam(model.parameters(), lr=0.01)


def train(model, opt, steps):
    losses = []
    for _ in range(steps):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


model, opt = make()
straight = train(model, opt, 20)

model, opt = make()
first = train(model, opt, 10)
path = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 10}, path)
model, opt = make()
checkpoint = torch.load(path, weights_only=True)
model.load_state_dict(checkpoint["model"])
opt.load_state_dict(checkpoint["optimizer"])
resumed = first + train(model, opt, 20 - checkpoint["step"])
for step in (4, 9, 14, 19):
    print(f"loss {step} {straight[step]:.6f}")
print("resumed equals straight:", resumed == straight)
