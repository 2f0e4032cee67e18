"""Fine-tuning idioms, written fresh: a pretrained-style backbone in nn.Sequential(OrderedDict(...)),
frozen with requires_grad = False, a new head swapped in, the optimizer given only trainable
parameters (filter(lambda p: p.requires_grad, ...)) and per-group learning rates with
add_param_group, named_modules / children / nn.Identity, xavier initialisation checked by its bound,
model.double(), and the state_dict's keys. Weights and data from numpy."""

from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(91)
x = torch.from_numpy(rng.standard_normal((96, 10)).astype(np.float32))
y = torch.from_numpy((x.numpy()[:, :3].sum(1) > 0).astype(np.int64))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(OrderedDict([("fc1", nn.Linear(10, 32)), ("act1", nn.ReLU()),
                                                   ("fc2", nn.Linear(32, 16)), ("act2", nn.Tanh())]))
        self.neck = nn.Identity()
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))


def numpy_weights(module, scale):
    module.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * scale).astype(np.float32))
                            for k, v in module.state_dict().items()})


model = Net()
numpy_weights(model, 0.3)
print("keys:", " ".join(model.state_dict().keys()))
print("modules:", " ".join(name or "<root>" for name, _ in model.named_modules()))
print("children:", " ".join(type(m).__name__ for m in model.children()))
print("backbone.fc2:", model.backbone.fc2.out_features, type(model.backbone[2]).__name__)

for param in model.backbone.parameters():
    param.requires_grad = False
model.head = nn.Linear(16, 2)  # a new task: two classes
w = torch.empty(2, 16)
nn.init.xavier_uniform_(w)
bound = (6.0 / (16 + 2)) ** 0.5
print("xavier within bound:", bool((w.abs() <= bound).all()), w.abs().max().item() > bound / 2)
numpy_weights(model.head, 0.3)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
print("trainable:", trainable, "frozen:", sum(p.numel() for p in model.parameters() if not p.requires_grad))
before = model.backbone.fc1.weight.detach().clone()
optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, momentum=0.9)
for step in range(20):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 5 == 4:
        print(f"loss {step} {loss.item():.6f}")
print("backbone unchanged:", torch.equal(before, model.backbone.fc1.weight), model.backbone.fc1.weight.grad is None)

# unfreeze the last backbone layer with its own, smaller learning rate
for param in model.backbone.fc2.parameters():
    param.requires_grad = True
optimizer.add_param_group({"params": model.backbone.fc2.parameters(), "lr": 0.01})
print("groups:", len(optimizer.param_groups), [g["lr"] for g in optimizer.param_groups], optimizer.param_groups[1]["momentum"])
for step in range(20, 40):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 5 == 4:
        print(f"loss {step} {loss.item():.6f}")

# per-group options from the start, as in the optim documentation
model2 = Net()
numpy_weights(model2, 0.3)
opt2 = torch.optim.Adam([{"params": model2.backbone.parameters()},
                         {"params": model2.head.parameters(), "lr": 1e-2}], lr=1e-3)
for step in range(10):
    loss = F.cross_entropy(model2(x), y)
    opt2.zero_grad()
    loss.backward()
    opt2.step()
print(f"loss adam {loss.item():.6f}", [g["lr"] for g in opt2.param_groups])
model64 = model2.double()
print("double:", model64.head.weight.dtype == torch.float64, f"{F.cross_entropy(model64(x.double()), y).item():.6f}")
