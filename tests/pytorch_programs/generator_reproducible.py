"""torch.Generator: the same seed gives the same numbers and the same shuffles; a DataLoader and the
random functions take it. (The two libraries' streams differ, so only order-free results are printed.)"""

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

g1, g2 = torch.Generator().manual_seed(42), torch.Generator().manual_seed(42)
print("same randn:", bool((torch.randn(5, generator=g1) == torch.randn(5, generator=g2)).all()))
print("same randint:", bool((torch.randint(0, 10, (8,), generator=g1) == torch.randint(0, 10, (8,), generator=g2)).all()))
print("same randperm:", torch.randperm(6, generator=g1).tolist() == torch.randperm(6, generator=g2).tolist())
probs = torch.tensor([0.1, 0.2, 0.7])
print("same multinomial:", torch.multinomial(probs, 5, replacement=True, generator=g1).tolist()
      == torch.multinomial(probs, 5, replacement=True, generator=g2).tolist())
state = g1.get_state()
a = torch.rand(3, generator=g1)
g1.set_state(state)
print("state restores:", bool((a == torch.rand(3, generator=g1)).all()))

data = TensorDataset(torch.arange(20, dtype=torch.float32), torch.arange(20))
train, val = random_split(data, [15, 5], generator=torch.Generator().manual_seed(0))
print("split sizes:", len(train), len(val))


def epoch_orders(seed):
    loader = DataLoader(train, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return [[int(i) for _, yb in loader for i in yb.tolist()] for _ in range(2)]


first, again = epoch_orders(1), epoch_orders(1)
print("shuffle reproducible:", first == again, "epochs differ:", first[0] != first[1])
print("each epoch a permutation:", sorted(first[0]) == sorted(first[1]) == sorted(int(i) for i in train.indices))
total = sum(float(xb.sum()) for xb, _ in DataLoader(data, batch_size=4, shuffle=True, generator=g1))
print(f"loss sum {total:.1f}")
