"""A classifier the usual way: nn.Sequential, nn.CrossEntropyLoss, optim.SGD with momentum."""

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(2)
X = rng.standard_normal((300, 2)).astype(np.float32)
labels = ((X[:, 0] ** 2 + X[:, 1] ** 2) > 1.0).astype(np.int64) + (X[:, 0] > 0.5).astype(np.int64)
x, y = torch.from_numpy(X), torch.from_numpy(labels)

device = "cuda" if torch.cuda.is_available() else "cpu"
model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)).to(device)
model.load_state_dict({name: torch.from_numpy((rng.standard_normal(tuple(p.shape)) * 0.5).astype(np.float32))
                       for name, p in model.named_parameters()})
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

model.train()
for step in range(40):
    xb, yb = x.to(device), y.to(device)
    pred = model(xb)
    loss = loss_fn(pred, yb)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 8 == 7:
        print(f"loss {step} {loss.item():.6f}")

model.eval()
with torch.no_grad():
    correct = (model(x).argmax(1) == y).type(torch.float).sum().item()
print(f"loss accuracy {correct / len(y):.6f}")
