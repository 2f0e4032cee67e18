"""The check a tiny scalar autograd engine's tests run against PyTorch, written here as the PyTorch
half: one-element float64 tensors made with torch.Tensor([...]).double(), requires_grad set as an
attribute, chains of + * relu ** / and reuse, then .data.item() and .grad.item(). Both libraries must
print the same forward values and gradients to 1e-12 (the printed digits)."""

import torch

# dual-run rtol: 1e-10


def show(name, out, *leaves):
    print(name, f"{out.data.item():.12f}", " ".join(f"{leaf.grad.item():.12f}" for leaf in leaves))


x = torch.Tensor([-3.0]).double()
x.requires_grad = True
z = 3 * x + 1 + x
q = z.relu() + z * x
h = (z * z).relu()
y = h + q + q * x
y.backward()
show("chain", y, x)

a = torch.Tensor([-2.5]).double()
b = torch.Tensor([1.5]).double()
a.requires_grad = True
b.requires_grad = True
c = a + b
d = a * b + b**3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + (b + a).relu()
d = d + 3 * d + (b - a).relu()
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
g.backward()
show("ops", g, a, b)

# a neuron: tanh(w . x + b), its gradient by the chain rule
w = torch.tensor([0.7, -1.2, 0.4], dtype=torch.float64, requires_grad=True)
xs = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64, requires_grad=True)
bias = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
n = (w * xs).sum() + bias
o = torch.tanh(n)
o.backward()
print("neuron", f"{o.item():.12f}", " ".join(f"{v:.12f}" for v in w.grad.tolist() + xs.grad.tolist()), f"{bias.grad.item():.12f}")
print("dtypes", x.dtype == torch.float64, w.grad.dtype == torch.float64, o.requires_grad, w.grad.requires_grad)
print("leaf", x.is_leaf, y.is_leaf, x.grad_fn is None, y.grad_fn is not None)

# a small MLP of such neurons, trained by hand on four points
data = torch.tensor([[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]], dtype=torch.float64)
ys = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=torch.float64)
W1 = torch.tensor([[0.1 * ((i * 7 + j * 3) % 11 - 5) for j in range(4)] for i in range(3)], dtype=torch.float64)
W2 = torch.tensor([[0.1 * ((i * 5 + 2) % 7 - 3)] for i in range(4)], dtype=torch.float64)
params = [W1.requires_grad_(), W2.requires_grad_()]
for k in range(20):
    ypred = torch.tanh(torch.tanh(data @ W1) @ W2).squeeze(1)
    loss = ((ypred - ys) ** 2).sum()
    for p in params:
        p.grad = None
    loss.backward()
    for p in params:
        p.data += -0.05 * p.grad
    if k % 5 == 4:
        print(f"loss {k} {loss.item():.12f}")
