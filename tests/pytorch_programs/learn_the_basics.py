"""The official "Learn the Basics" pages' idioms, written fresh: tensors made from lists and numpy and
*_like, indexing and in-place writes, sharing memory with numpy both ways, the autograd page's
binary_cross_entropy_with_logits on a tiny layer, a Jacobian-vector product with retain_graph, the
"Build the Neural Network" Flatten/Softmax model, and the train_loop/test_loop over DataLoaders with
the model saved and loaded by its state_dict. Data and weights come from numpy."""

import os
import tempfile

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(71)

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
x_np = torch.from_numpy(np.array(data))
x_ones = torch.ones_like(x_data)
x_rand = torch.rand_like(x_data, dtype=torch.float)
print("made:", x_data.tolist(), x_np.tolist(), x_ones.tolist(), list(x_rand.shape), x_rand.dtype == torch.float32)
shape = (2, 3)
print("shapes:", list(torch.rand(shape).shape), torch.ones(shape).sum().item(), torch.zeros(shape).dtype == torch.float32)
tensor = torch.ones(4, 4)
print("first row:", tensor[0].tolist(), "first column:", tensor[:, 0].tolist(), "last column:", tensor[..., -1].tolist())
tensor[:, 1] = 0
t1 = torch.cat([tensor, tensor, tensor], dim=1)
print("cat:", list(t1.shape), t1.sum().item())
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
z1 = tensor * tensor
z2 = tensor.mul(tensor)
z3 = torch.rand_like(tensor)
torch.mul(tensor, tensor, out=z3)
print("same products:", torch.equal(y1, y2), torch.equal(y1, y3), torch.equal(z1, z2), torch.equal(z1, z3))
agg = tensor.sum()
agg_item = agg.item()
print("agg:", agg_item, type(agg_item).__name__)
tensor.add_(5)
print("add_:", tensor[0].tolist())
t = torch.ones(5)
n = t.numpy()
t.add_(1)
print("numpy sees add_:", n.tolist())
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print("tensor sees numpy:", t.tolist())

# the autograd page: one layer, its cost, its gradients
x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.from_numpy(rng.standard_normal((5, 3)).astype(np.float32)).requires_grad_()
b = torch.from_numpy(rng.standard_normal(3).astype(np.float32)).requires_grad_()
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print("grad_fn set:", z.grad_fn is not None, loss.grad_fn is not None)
loss.backward()
print("w.grad:", " ".join(f"{v:.5f}" for v in w.grad.view(-1).tolist()))
print("b.grad:", " ".join(f"{v:.5f}" for v in b.grad.tolist()))
print("requires_grad:", z.requires_grad, end=" ")
with torch.no_grad():
    z = torch.matmul(x, w) + b
print(z.requires_grad, (torch.matmul(x, w) + b).detach().requires_grad)
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print("first call:", inp.grad.tolist())
out.backward(torch.ones_like(out), retain_graph=True)
print("second call:", inp.grad.tolist())
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print("after zeroing:", inp.grad.tolist())

# "Build the Neural Network" and "Optimizing Model Parameters", on 8x8 images of 4 classes
device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(nn.Linear(8 * 8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def make_model():
    model = NeuralNetwork().to(device)
    model.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * 0.2).astype(np.float32))
                           for k, v in model.state_dict().items()})
    return model


model = make_model()
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {list(param.size())} | first: {param.view(-1)[0].item():.5f}")
X = torch.from_numpy(rng.random((1, 8, 8)).astype(np.float32))
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
print(f"Predicted class: {y_pred.item()} with {pred_probab.max().item():.5f}")

prototypes = rng.random((4, 8, 8)).astype(np.float32)
labels = rng.integers(0, 4, 320)
images = (prototypes[labels] + 0.3 * rng.standard_normal((320, 8, 8))).astype(np.float32)
training_data = TensorDataset(torch.from_numpy(images[:256]), torch.from_numpy(labels[:256]))
test_data = TensorDataset(torch.from_numpy(images[256:]), torch.from_numpy(labels[256:]))
batch_size = 32
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)


def train_loop(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 4 == 0:
            loss, current = loss.item(), batch * batch_size + len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test_loop(dataloader, model, loss_fn):
    model.eval()
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f}")


loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for t in range(3):
    print(f"Epoch {t + 1}")
    train_loop(train_dataloader, model, loss_fn, optimizer)
    test_loop(test_dataloader, model, loss_fn)

path = os.path.join(tempfile.mkdtemp(), "model_weights.pth")
torch.save(model.state_dict(), path)
model2 = NeuralNetwork()
model2.load_state_dict(torch.load(path, weights_only=True))
model2.eval()
print("loaded model agrees:", torch.equal(model2(X), model(X)))
