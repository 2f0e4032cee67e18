"""A learner's own op as torch.autograd.Function (forward and backward by hand), fitted with an optimizer:
y = a + b * P3(c + d x), P3 the Legendre polynomial (5t^3 - 3t) / 2, as in the official tutorial's idea,
written fresh here; its backward checked against a central difference in float64."""

import math

import torch


class LegendreP3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return 0.5 * (5 * t**3 - 3 * t)

    @staticmethod
    def backward(ctx, grad_output):
        (t,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * t**2 - 1)


x = torch.linspace(-math.pi, math.pi, 500)
y = torch.sin(x)
a = torch.full((), 0.0, requires_grad=True)
b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True)
d = torch.full((), 0.3, requires_grad=True)
opt = torch.optim.SGD([a, b, c, d], lr=2e-5)
P3 = LegendreP3.apply
for t in range(200):
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    if t % 40 == 39:
        print(f"loss {t} {loss.item():.4f}")
    opt.zero_grad()
    loss.backward()
    opt.step()

# the backward rule against a central difference, in float64
t64 = torch.linspace(-1, 1, 7, dtype=torch.float64).requires_grad_()
LegendreP3.apply(t64).sum().backward()
eps = 1e-6
with torch.no_grad():
    numeric = (LegendreP3.apply(t64 + eps) - LegendreP3.apply(t64 - eps)) / (2 * eps)
print("backward matches central difference:", bool(((t64.grad - numeric).abs() < 1e-6).all()))
