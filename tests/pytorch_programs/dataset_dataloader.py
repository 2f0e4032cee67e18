"""A Dataset / DataLoader pipeline: a map-style Dataset subclass, TensorDataset, a custom Sampler (the
order from numpy, so both libraries see the same batches), the default collate of (x, y) tuples."""

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

rng = np.random.default_rng(5)
features = rng.standard_normal((200, 6)).astype(np.float32)
targets = (features @ rng.standard_normal(6) > 0).astype(np.int64)


class Points(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return torch.from_numpy(self.x[idx]), int(self.y[idx])


class NumpyShuffle(Sampler):
    def __init__(self, n, seed):
        self.n, self.rng = n, np.random.default_rng(seed)

    def __iter__(self):
        return iter(self.rng.permutation(self.n).tolist())

    def __len__(self):
        return self.n


train = DataLoader(Points(features[:160], targets[:160]), batch_size=32, sampler=NumpyShuffle(160, 0))
test = DataLoader(TensorDataset(torch.from_numpy(features[160:]), torch.from_numpy(targets[160:])), batch_size=16)
model = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 2))
model.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * 0.4).astype(np.float32))
                       for k, v in model.named_parameters()})
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
loss_fn = nn.CrossEntropyLoss()
print(f"loss batches {len(train)}")
for epoch in range(4):
    model.train()
    total = 0.0
    for xb, yb in train:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(yb)
    model.eval()
    with torch.no_grad():
        test_loss = sum(loss_fn(model(xb), yb).item() * len(yb) for xb, yb in test) / 40
    print(f"loss {epoch} {total / 160:.5f} {test_loss:.5f}")
