"""A character-level name model in the style of the "makemore" lectures, written fresh on a few
made-up names: bigram counts and a one-hot neural bigram, then an MLP over a 3-character context with
an embedding table indexed directly (C[X]), batch normalisation written by hand with running
statistics kept under no_grad, retain_grad() on intermediates checked against the gradient of
cross-entropy worked out by hand, sampling with torch.multinomial and a Generator.
Parameters and minibatch indices come from numpy, so both libraries compute the same numbers; the
Generator's own draws differ between the libraries, so only their shapes and ranges are printed."""

import numpy as np
import torch
import torch.nn.functional as F

words = ("amira bo cato dela eli fen gus hana ivo jun kira lev mae nilo ora pim quin rhea sol tavi"
         " uma vic wren xan yara zed anouk bela corin dara elio fara gwen hugo ines jaro kai").split()
chars = sorted(set("".join(words)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
vocab_size = len(itos)
rng = np.random.default_rng(31)

# bigram counts
N = torch.zeros((vocab_size, vocab_size), dtype=torch.int32)
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        N[stoi[ch1], stoi[ch2]] += 1
P = (N + 1).float()
P /= P.sum(1, keepdim=True)
log_likelihood, n = 0.0, 0
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        log_likelihood += torch.log(P[stoi[ch1], stoi[ch2]])
        n += 1
print(f"loss counts {(-log_likelihood / n).item():.6f}", "N total:", N.sum().item(), N.dtype == torch.int32)

g = torch.Generator().manual_seed(2147483647)
out = []
for _ in range(5):
    ix, name = 0, []
    while True:
        p = P[ix]
        ix = torch.multinomial(p, num_samples=1, replacement=True, generator=g).item()
        if ix == 0:
            break
        name.append(itos[ix])
    out.append("".join(name))
print("samples are names:", all(set(s) <= set(chars) for s in out), len(out))

# a neural bigram: one-hot rows times a weight matrix
xs, ys = [], []
for w in words:
    chs = ["."] + list(w) + ["."]
    for ch1, ch2 in zip(chs, chs[1:]):
        xs.append(stoi[ch1])
        ys.append(stoi[ch2])
xs, ys = torch.tensor(xs), torch.tensor(ys)
num = xs.nelement()
W = torch.randn((vocab_size, vocab_size), generator=g, requires_grad=True)
print("randn shape:", list(W.shape), W.requires_grad)
W = torch.from_numpy(rng.standard_normal((vocab_size, vocab_size)).astype(np.float32))
W.requires_grad = True
for k in range(30):
    xenc = F.one_hot(xs, num_classes=vocab_size).float()  # (num, 27)
    logits = xenc @ W  # log-counts
    counts = logits.exp()
    probs = counts / counts.sum(1, keepdims=True)
    loss = -probs[torch.arange(num), ys].log().mean() + 0.01 * (W**2).mean()
    if k % 10 == 9:
        print(f"loss {k} {loss.item():.6f}")
    W.grad = None
    loss.backward()
    W.data += -10 * W.grad

# the MLP: a 3-character context, an embedding table, a hidden layer with batch norm by hand
block_size = 3


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(X), torch.tensor(Y)


Xtr, Ytr = build_dataset(words[:30])
Xdev, Ydev = build_dataset(words[30:])
n_embd, n_hidden = 10, 64
print("randint:", list(torch.randint(0, Xtr.shape[0], (32,), generator=g).shape))
W1_check = torch.empty(n_hidden, n_embd * block_size)
torch.nn.init.kaiming_normal_(W1_check, nonlinearity="tanh")  # std = (5/3) / sqrt(fan_in)
print("kaiming std ok:", abs(W1_check.std().item() / ((5 / 3) / (n_embd * block_size) ** 0.5) - 1) < 0.1)


def param(*shape, scale):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


C = param(vocab_size, n_embd, scale=1.0)
W1 = param(n_embd * block_size, n_hidden, scale=(5 / 3) / (n_embd * block_size) ** 0.5)
b1 = param(n_hidden, scale=0.01)
W2 = param(n_hidden, vocab_size, scale=0.1)
b2 = param(vocab_size, scale=0.0)
bngain = torch.ones((1, n_hidden))
bnbias = torch.zeros((1, n_hidden))
bnmean_running = torch.zeros((1, n_hidden))
bnstd_running = torch.ones((1, n_hidden))
parameters = [C, W1, b1, W2, b2, bngain, bnbias]
print("parameters:", sum(p.nelement() for p in parameters))
for p in parameters:
    p.requires_grad = True

batch_size = 32
for i in range(60):
    ix = torch.from_numpy(rng.integers(0, Xtr.shape[0], batch_size))
    Xb, Yb = Xtr[ix], Ytr[ix]
    emb = C[Xb]  # (32, 3, 10)
    embcat = emb.view(emb.shape[0], -1)  # (32, 30)
    hpreact = embcat @ W1 + b1  # (32, 64)
    bnmeani = hpreact.mean(0, keepdim=True)
    bnstdi = hpreact.std(0, keepdim=True)
    hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
    with torch.no_grad():
        bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
        bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
    h = torch.tanh(hpreact)  # (32, 64)
    logits = h @ W2 + b2  # (32, 27)
    loss = F.cross_entropy(logits, Yb)
    for t in (logits, h):
        t.retain_grad()
    for p in parameters:
        p.grad = None
    loss.backward()
    W2_used = W2.detach().clone()  # the update below changes W2; the hand check needs the one used
    lr = 0.1 if i < 40 else 0.01
    for p in parameters:
        p.data += -lr * p.grad
    if i % 20 == 19:
        print(f"loss {i} {loss.item():.6f}")

# the gradient of cross-entropy by hand, against what backward left in logits.grad
dlogits = F.softmax(logits, 1)
dlogits[range(batch_size), Yb] -= 1
dlogits /= batch_size
dh = dlogits @ W2_used.T
print("logits.grad exact or close:", torch.allclose(dlogits, logits.grad, atol=1e-7),
      f"maxdiff below 1e-7: {(dlogits - logits.grad).abs().max().item() < 1e-7}")
print("h.grad close:", torch.allclose(dh, h.grad, atol=1e-6))
print("one_hot rows:", F.one_hot(Yb, vocab_size).sum(1).tolist() == [1] * batch_size, F.one_hot(Yb).shape[1] == Yb.max().item() + 1)
print("one_hot columns count the targets:",
      torch.equal(F.one_hot(Yb, vocab_size).sum(0), torch.bincount(Yb, minlength=vocab_size)))


@torch.no_grad()  # nothing here needs a graph
def split_loss(split):
    x, y = {"train": (Xtr, Ytr), "val": (Xdev, Ydev)}[split]
    emb = C[x]  # (N, 3, 10)
    hpreact = emb.view(emb.shape[0], -1) @ W1 + b1
    hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
    logits = torch.tanh(hpreact) @ W2 + b2
    loss = F.cross_entropy(logits, y)
    print(f"loss {split} {loss.item():.6f} requires_grad={loss.requires_grad}")


split_loss("train")
split_loss("val")

g = torch.Generator().manual_seed(2147483647 + 10)
names = []
for _ in range(5):
    out, context = [], [0] * block_size
    while len(out) < 20:
        emb = C[torch.tensor([context])]  # (1, 3, 10)
        hpreact = emb.view(1, -1) @ W1 + b1
        hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
        probs = F.softmax(torch.tanh(hpreact) @ W2 + b2, dim=1)
        ix = torch.multinomial(probs, num_samples=1, generator=g).item()
        context = context[1:] + [ix]
        if ix == 0:
            break
        out.append(ix)
    names.append("".join(itos[i] for i in out))
print("sampled:", len(names), all(isinstance(s, str) for s in names))
