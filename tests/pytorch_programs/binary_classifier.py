"""Binary classification as beginners' notebooks write it, fresh: two moons made with numpy, moved in with
torch.from_numpy(arr).float(), a logistic-output MLP trained with nn.BCEWithLogitsLoss, then the same
with torch.sigmoid + F.binary_cross_entropy, accuracy as ((out > 0.5).float() == y).float().mean(),
predictions back to numpy with .detach().numpy(), torch.set_grad_enabled, torch.numel, .T, the
*_like functions, a snapshot with .detach().clone(), and f-strings formatting 0-d tensors directly."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(61)
n = 200
angle = rng.uniform(0, np.pi, n)
upper = rng.random(n) < 0.5
X = np.stack([np.where(upper, np.cos(angle), 1 - np.cos(angle)),
              np.where(upper, np.sin(angle), 0.5 - np.sin(angle))], axis=1) + rng.normal(0, 0.1, (n, 2))
y = upper.astype(np.float64)
X_t = torch.from_numpy(X).float()  # float64 numpy -> float32 tensor
y_t = torch.from_numpy(y).float().unsqueeze(1)  # (n, 1)
print("shapes:", list(X_t.shape), list(y_t.shape), X_t.dtype == torch.float32, torch.numel(X_t), X_t.T.shape[0])


def make_model():
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    model.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * 0.5).astype(np.float32))
                           for k, v in model.state_dict().items()})
    return model


model = make_model()
loss_fn = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
snapshot = model[0].weight.detach().clone()
for epoch in range(60):
    model.train()
    logits = model(X_t)
    loss = loss_fn(logits, y_t)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if epoch % 15 == 14:
        with torch.no_grad():
            acc = ((torch.sigmoid(model(X_t)) > 0.5).float() == y_t).float().mean()
        print(f"loss {epoch} {loss:.5f} acc {acc:.4f}")
print("weights moved away from the snapshot:", not torch.equal(snapshot, model[0].weight), snapshot.requires_grad)

# the same network with sigmoid and binary_cross_entropy (and its weight=, a pos_weight by hand)
model2 = make_model()
opt2 = torch.optim.SGD(model2.parameters(), lr=0.2)
weights = torch.where(y_t > 0, torch.full_like(y_t, 2.0), torch.ones_like(y_t))
for epoch in range(40):
    probs = torch.sigmoid(model2(X_t))
    loss = F.binary_cross_entropy(probs, y_t, weight=weights)
    opt2.zero_grad()
    loss.backward()
    opt2.step()
    if epoch % 10 == 9:
        print(f"bce {epoch} {loss.item():.5f}")
with_logits = F.binary_cross_entropy_with_logits(model2(X_t), y_t, pos_weight=torch.tensor([2.0]))
print(f"pos_weight {with_logits.item():.5f}")

torch.set_grad_enabled(False)
out = model(X_t)
print("no graph when disabled:", out.requires_grad, torch.is_grad_enabled())
torch.set_grad_enabled(True)
with torch.set_grad_enabled(False):
    preds = (torch.sigmoid(model(X_t)) > 0.5).float()
print("enabled again:", torch.is_grad_enabled(), model(X_t).requires_grad)
preds_np = preds.numpy().ravel()
print(f"numpy accuracy {(preds_np == y).mean():.4f}", preds_np.dtype)
probs_np = torch.sigmoid(model(X_t)).detach().numpy()
print(f"mean prob {probs_np.mean():.5f}")

noise = torch.randn_like(X_t)
print("randn_like:", list(noise.shape), noise.dtype == X_t.dtype, "zeros_like sum", torch.zeros_like(X_t).sum().item())
print(f"mse {F.mse_loss(torch.sigmoid(model(X_t)), y_t):.5f}", f"{F.mse_loss(X_t, X_t + 1.0, reduction='sum'):.1f}")
print(f"loss final {loss_fn(model(X_t), y_t).item():.5f}")
