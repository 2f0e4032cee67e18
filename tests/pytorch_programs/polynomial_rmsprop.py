"""The official tutorials' polynomial fit of sin(x): a third-order polynomial as nn.Linear(3, 1) on the
powers x, x^2, x^3, the summed squared error, and optim.RMSprop."""

import math

import torch

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)  # (2000, 3)

model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
model.load_state_dict({"0.weight": torch.tensor([[0.1, -0.2, 0.05]]), "0.bias": torch.tensor([0.3])})
loss_fn = torch.nn.MSELoss(reduction="sum")
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
for t in range(300):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    if t % 50 == 49:
        print(f"loss {t} {loss.item():.4f}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

linear_layer = model[0]
print(f"loss a {linear_layer.bias.item():.5f}")
print(f"loss d {linear_layer.weight[:, 2].item():.5f}")
