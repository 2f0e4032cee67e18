"""The official "Neural Networks" tutorial's idiom, written fresh: a LeNet-like nn.Module (two Conv2d,
max pooling with F.max_pool2d, torch.flatten, three Linear), backward from a vector, the SGD rule by
hand through .data, then optim.SGD and nn.MSELoss. Weights and inputs come from numpy."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

rng = np.random.default_rng(11)


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)  # 1 input channel, 6 output channels, 5x5 kernels
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))  # (N, 6, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)  # (N, 400)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


net = Net()
print(net)
params = list(net.parameters())
print(len(params))
print(params[0].size())  # conv1's weight
print("total:", sum(p.numel() for p in params))
net.load_state_dict({name: torch.from_numpy((rng.standard_normal(tuple(p.shape))
                                               / np.sqrt(np.prod(p.shape[1:]) if p.dim() > 1 else 10)).astype(np.float32))
                     for name, p in net.named_parameters()})

input = torch.from_numpy(rng.standard_normal((1, 1, 32, 32)).astype(np.float32))
out = net(input)
print("out:", " ".join(f"{v:.5f}" for v in out[0].tolist()))

net.zero_grad()
out.backward(torch.randn(1, 10))  # a random upstream gradient: only its effect's shape is compared
print("grad shape:", list(net.conv1.bias.grad.size()), "nonzero:", bool(net.conv1.bias.grad.abs().sum() > 0))

net.zero_grad()
print("after zero_grad:", net.conv1.bias.grad is None or bool((net.conv1.bias.grad == 0).all()))
out = net(input)
out.backward(torch.from_numpy(rng.standard_normal((1, 10)).astype(np.float32)))
print("conv1.bias.grad:", " ".join(f"{v:.5f}" for v in net.conv1.bias.grad.tolist()))

output = net(input)
target = torch.from_numpy(rng.standard_normal(10).astype(np.float32))
target = target.view(1, -1)  # the same shape as the output
criterion = nn.MSELoss()
loss = criterion(output, target)
print(f"loss 0 {loss.item():.6f}")
print("has grad_fn:", loss.grad_fn is not None, "next:", len(loss.grad_fn.next_functions) > 0)

net.zero_grad()
loss.backward()
learning_rate = 0.01
for f in net.parameters():
    f.data.sub_(f.grad.data * learning_rate)
print(f"loss 1 {criterion(net(input), target).item():.6f}")

batch = torch.from_numpy(rng.standard_normal((4, 1, 32, 32)).astype(np.float32))
targets = torch.from_numpy(rng.standard_normal((4, 10)).astype(np.float32))
optimizer = optim.SGD(net.parameters(), lr=0.01)
for step in range(2, 8):
    optimizer.zero_grad()
    output = net(batch)
    loss = criterion(output, targets)
    loss.backward()
    optimizer.step()
    print(f"loss {step} {loss.item():.6f}")
