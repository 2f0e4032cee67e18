"""Two task heads in an nn.ModuleDict over a shared trunk, trained together with Adam."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(7)
x = torch.from_numpy(rng.standard_normal((96, 4)).astype(np.float32))
y_reg = torch.from_numpy((x.numpy() ** 2).sum(1, keepdims=True).astype(np.float32))
y_cls = torch.from_numpy((x.numpy()[:, 0] > x.numpy()[:, 1]).astype(np.int64))


class MultiTask(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 24), nn.GELU())
        self.heads = nn.ModuleDict({"regress": nn.Linear(24, 1), "classify": nn.Linear(24, 2)})

    def forward(self, x, task):
        return self.heads[task](self.trunk(x))


model = MultiTask()
model.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * 0.3).astype(np.float32))
                       for k, v in model.named_parameters()})
print("loss names", ",".join(name for name, _ in model.named_parameters()))
opt = torch.optim.Adam(model.parameters(), lr=5e-3)
for step in range(40):
    loss = F.mse_loss(model(x, "regress"), y_reg) + F.cross_entropy(model(x, "classify"), y_cls)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 9:
        print(f"loss {step} {loss.item():.5f}")
