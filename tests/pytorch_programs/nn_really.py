"""The road of the official "What is torch.nn really?" tutorial, written fresh on MNIST-shaped random
data (784 pixels in [0, 1], each class a noisy random pattern): a model from raw tensors and a
hand-written log-softmax and NLL, then refactored step by step into F.cross_entropy, nn.Module,
nn.Linear, optim, TensorDataset, DataLoader, a validation loop, and a CNN in nn.Sequential with a
Lambda layer. Initial weights come from numpy, so both libraries compute the same numbers; the
shuffled loaders' orders differ between the libraries, so after those only a threshold is printed."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(21)
strokes = rng.random((10, 784)) < 0.15  # each digit's pixels: a fixed random pattern, mostly 0 as in MNIST
labels = rng.integers(0, 10, 640)
pixels = (strokes[labels] * rng.random((640, 784)) * (rng.random((640, 784)) < 0.7)).astype(np.float32)
x_train, y_train, x_valid, y_valid = pixels[:512], labels[:512], pixels[512:], labels[512:]
x_train, y_train, x_valid, y_valid = map(torch.tensor, (x_train, y_train, x_valid, y_valid))
n, c = x_train.shape
print("data:", n, c, x_train.dtype == torch.float32, y_train.dtype == torch.int64, int(y_train.min()), int(y_train.max()))
init_w = rng.standard_normal((784, 10)).astype(np.float32)

weights = torch.randn(784, 10) / math.sqrt(784)  # Xavier initialisation (then replaced by numpy's draw)
with torch.no_grad():
    weights.copy_(torch.from_numpy(init_w) / math.sqrt(784))
weights.requires_grad_()
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


bs = 64
xb, yb = x_train[0:bs], y_train[0:bs]
preds = model(xb)
loss_func = nll
print(f"loss 0 {loss_func(preds, yb).item():.6f} {accuracy(preds, yb).item():.6f}")

lr, epochs = 0.1, 2
for epoch in range(epochs):
    for i in range((n - 1) // bs + 1):
        start_i = i * bs
        end_i = start_i + bs
        xb = x_train[start_i:end_i]
        yb = y_train[start_i:end_i]
        pred = model(xb)
        loss = loss_func(pred, yb)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
print(f"loss 1 {loss_func(model(xb), yb).item():.6f} {accuracy(model(xb), yb).item():.6f}")

loss_func = F.cross_entropy
print(f"loss 2 {loss_func(xb @ weights + bias, yb).item():.6f}")


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(784, 10) / math.sqrt(784))
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, xb):
        return xb @ self.weights + self.bias


model = Mnist_Logistic()
model.load_state_dict({"weights": torch.from_numpy(init_w / np.float32(math.sqrt(784))), "bias": torch.zeros(10)})


def fit_by_hand():
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            xb, yb = x_train[i * bs : i * bs + bs], y_train[i * bs : i * bs + bs]
            loss = loss_func(model(xb), yb)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= p.grad * lr
                model.zero_grad()


fit_by_hand()
print(f"loss 3 {loss_func(model(xb), yb).item():.6f}")


class Mnist_Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


def get_model():
    model = Mnist_Linear()
    model.load_state_dict({"lin.weight": torch.from_numpy(np.ascontiguousarray(init_w.T) / np.float32(28.0)),
                           "lin.bias": torch.zeros(10)})
    return model, optim.SGD(model.parameters(), lr=lr)


model, opt = get_model()
train_ds = TensorDataset(x_train, y_train)
for epoch in range(epochs):
    for i in range((n - 1) // bs + 1):
        xb, yb = train_ds[i * bs : i * bs + bs]
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
print(f"loss 4 {loss_func(model(xb), yb).item():.6f}")

valid_ds = TensorDataset(x_valid, y_valid)
valid_dl = DataLoader(valid_ds, batch_size=bs * 2)
model, opt = get_model()
for epoch in range(epochs):
    model.train()
    for xb, yb in DataLoader(train_ds, batch_size=bs):
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    with torch.no_grad():
        valid_loss = sum(loss_func(model(xb), yb) for xb, yb in valid_dl)
    print(f"loss {5 + epoch} {(valid_loss / len(valid_dl)).item():.6f}")


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)
        model.eval()
        with torch.no_grad():
            losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
    return val_loss


def get_data(train_ds, valid_ds, bs):
    return (DataLoader(train_ds, batch_size=bs, shuffle=True), DataLoader(valid_ds, batch_size=bs * 2))


train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
model, opt = get_model()
val_loss = fit(3, model, loss_func, opt, train_dl, valid_dl)
print("shuffled linear fit learned:", bool(val_loss < 1.6), type(val_loss).__name__)


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


def preprocess(x):
    return x.view(-1, 1, 28, 28)


cnn = nn.Sequential(
    Lambda(preprocess),
    nn.Conv2d(1, 8, kernel_size=3, stride=2, padding=1),  # (N, 8, 14, 14)
    nn.ReLU(),
    nn.Conv2d(8, 8, kernel_size=3, stride=2, padding=1),  # (N, 8, 7, 7)
    nn.ReLU(),
    nn.Conv2d(8, 10, kernel_size=3, stride=2, padding=1),  # (N, 10, 4, 4)
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),  # (N, 10, 1, 1)
    Lambda(lambda x: x.view(x.size(0), -1)),  # (N, 10)
)
cnn.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) / 3.0).astype(np.float32))
                     for k, v in cnn.state_dict().items()})
opt = optim.SGD(cnn.parameters(), lr=0.1, momentum=0.9)
cnn_train = DataLoader(train_ds, batch_size=bs)  # no shuffle: the same batches in both libraries
for epoch in range(2):
    cnn.train()
    for xb, yb in cnn_train:
        loss_batch(cnn, loss_func, xb, yb, opt)
    cnn.eval()
    with torch.no_grad():
        losses, nums = zip(*[loss_batch(cnn, loss_func, xb, yb) for xb, yb in valid_dl])
    print(f"loss {7 + epoch} {np.sum(np.multiply(losses, nums)) / np.sum(nums):.6f}")
