"""A nanoGPT-style training loop, written fresh: a causal self-attention block with a registered tril
buffer and masked_fill(-inf), heads split with view/transpose and put back with
transpose(1, 2).contiguous().view(B, T, C), Dropout (p=0 in training, so both libraries draw no masks),
model.apply(_init_weights) with nn.init.normal_/zeros_, gradient clipping, three LR schedulers,
zero_grad(set_to_none=True), train()/eval(), a checkpoint dict saved with torch.save and resumed, and
the tensor functions such code uses (stack, cat, where, topk, clamp, allclose, einsum).
Weights and batches come from numpy, so both libraries compute the same numbers."""

import math
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

text = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. " * 8
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
vocab_size, block_size, n_embd, n_head, n_layer, batch_size = len(chars), 16, 32, 4, 2, 8
rng = np.random.default_rng(51)


def get_batch():
    ix = torch.from_numpy(rng.integers(0, len(data) - block_size, size=batch_size))
    x = torch.stack([data[i : i + block_size] for i in ix])
    y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])
    return x, y


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(0.0)
        self.resid_dropout = nn.Dropout(0.0)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(n_embd, dim=2)
        k = k.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, T)
        att = att.masked_fill(self.tril[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # the heads side by side again
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(0.0)
        self.h = nn.ModuleList([Block() for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)  # (t,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (b, t, n_embd)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # (b, t, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= block_size else idx[:, -block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :]  # (b, vocab_size)
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)  # top_k=1 leaves one choice: no randomness
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


model = GPT()
linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
print("init: biases zero", all(bool((m.bias == 0).all()) for m in linears if m.bias is not None),
      "weight std near 0.02", abs(model.h[0].mlp[0].weight.std().item() / 0.02 - 1) < 0.1)
init = {k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * 0.05).astype(np.float32))
        for k, v in model.named_parameters()}
model.load_state_dict(init, strict=False)  # the tril buffers stay
print(f"loss params {sum(p.numel() for p in model.parameters())}")

# einsum and allclose: the attention scores written two ways
x = torch.from_numpy(rng.standard_normal((2, 4, 8)).astype(np.float32))
print("einsum equals matmul:", torch.allclose(torch.einsum("bqd,bkd->bqk", x, x), x @ x.transpose(1, 2), atol=1e-5))
z = torch.from_numpy(rng.standard_normal(10).astype(np.float32))
print("where/clamp:", " ".join(f"{v:.4f}" for v in torch.where(z > 0, z, torch.zeros_like(z)).tolist()),
      f"{torch.clamp(z, min=-0.5, max=0.5).sum().item():.4f}", f"{z.clamp(0).sum().item():.4f}")

iters, decay_iters = 24, 24
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2, betas=(0.9, 0.95), weight_decay=0.1)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=decay_iters, eta_min=2e-3)
batches = [get_batch() for _ in range(iters)]
ckpt_path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")


def train(model, optimizer, scheduler, start, stop):
    model.train()
    losses = []
    for it in range(start, stop):
        X, Y = batches[it]
        logits, loss = model(X, Y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if it % 6 == 5:
            print(f"loss {it} {loss.item():.5f} norm {norm.item():.5f} lr {scheduler.get_last_lr()[0]:.6f}")
        if it == 11:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "iter": it + 1}, ckpt_path)
    return losses


straight = train(model, optimizer, scheduler, 0, iters)

model2 = GPT()
optimizer2 = torch.optim.AdamW(model2.parameters(), lr=2e-2, betas=(0.9, 0.95), weight_decay=0.1)
scheduler2 = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer2, T_max=decay_iters, eta_min=2e-3)
checkpoint = torch.load(ckpt_path)
model2.load_state_dict(checkpoint["model"])
optimizer2.load_state_dict(checkpoint["optimizer"])
scheduler2.load_state_dict(checkpoint["scheduler"])
print("resume at", checkpoint["iter"], f"lr {scheduler2.get_last_lr()[0]:.6f}")
resumed = train(model2, optimizer2, scheduler2, checkpoint["iter"], iters)
print("resumed run equals the straight one:", resumed == straight[checkpoint["iter"]:])

model.eval()
with torch.no_grad():
    X, Y = get_batch()
    _, val_loss = model(X, Y)
print(f"loss val {val_loss.item():.5f}")
drop = nn.Dropout(0.5)
ones = torch.ones(1000)
kept = drop(ones)
print("dropout train: zeros or 2", bool(((kept == 0) | (kept == 2)).all()), "some dropped", 300 < int((kept == 0).sum()) < 700)
drop.eval()
print("dropout eval is identity:", torch.equal(drop(ones), ones))
out = model.generate(torch.zeros((1, 1), dtype=torch.long), max_new_tokens=12, top_k=1)
print("greedy:", "".join(chars[i] for i in out[0].tolist()))

# the two other schedulers people use
for name, make in [("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
                   ("lambda", lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda it: min(1.0, (it + 1) / 4)))]:
    opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    sched = make(opt)
    lrs = []
    for _ in range(7):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    print(name, " ".join(f"{v:.5f}" for v in lrs))
