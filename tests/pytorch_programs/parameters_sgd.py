"""An nn.Module trained with the update loop over model.parameters() written by hand (p -= lr * p.grad)."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(1)
x = torch.from_numpy(rng.standard_normal((128, 8)).astype(np.float32))
y = torch.from_numpy((np.sin(x.numpy()).sum(1, keepdims=True) * 0.5).astype(np.float32))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(8, 32)
        self.out = nn.Linear(32, 1)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x)))


model = Net()
model.load_state_dict({name: torch.from_numpy((rng.standard_normal(tuple(p.shape)) * 0.3).astype(np.float32))
                       for name, p in model.named_parameters()})
lr = 0.05
for step in range(30):
    loss = F.mse_loss(model(x), y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= p.grad * lr
    if step % 5 == 4:
        print(f"loss {step} {loss.item():.6f}")
