"""A character-level RNN that tells which made-up "language" a name comes from, and one that writes
names, in the idiom of the official char-RNN tutorials, written fresh: one-hot letters set element by
element, an RNN cell as nn.Linear on torch.cat((input, hidden), 1) with nn.LogSoftmax and nn.NLLLoss,
the SGD step by hand with p.data.add_(p.grad.data, alpha=-lr), output.topk(1), torch.LongTensor.
Weights come from numpy and examples from Python's random module, so both libraries compute the same numbers."""

import random
import string

import numpy as np
import torch
import torch.nn as nn

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)
category_lines = {
    "Vowelish": ["Aiea", "Ouia", "Eaou", "Iona", "Uoa", "Aeio", "Oea", "Euia"],
    "Consonantish": ["Brst", "Krtz", "Pfnd", "Strk", "Grml", "Trsk", "Blnk", "Drft"],
}
all_categories = list(category_lines)
n_categories = len(all_categories)
rng = np.random.default_rng(41)


def letterToIndex(letter):
    return all_letters.find(letter)


def letterToTensor(letter):
    tensor = torch.zeros(1, n_letters)
    tensor[0][letterToIndex(letter)] = 1
    return tensor


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)  # (letters, batch of 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


print("one-hot:", letterToTensor("J").sum().item(), lineToTensor("Jones").size()[0], int(lineToTensor("Jones")[1][0].argmax()))


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)  # (1, input_size + hidden_size)
        hidden = self.i2h(combined)
        output = self.softmax(self.i2o(combined))
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def numpy_init(module, scale):
    module.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) * scale).astype(np.float32))
                            for k, v in module.state_dict().items()})


n_hidden = 32
rnn = RNN(n_letters, n_hidden, n_categories)
numpy_init(rnn, 0.1)


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def randomTrainingExample():
    category = random.choice(all_categories)
    line = random.choice(category_lines[category])
    category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
    return category, line, category_tensor, lineToTensor(line)


criterion = nn.NLLLoss()
learning_rate = 0.005


def train(category_tensor, line_tensor):
    hidden = rnn.initHidden()
    rnn.zero_grad()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    loss = criterion(output, category_tensor)
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item()


random.seed(1)
current_loss = 0
for it in range(1, 201):
    category, line, category_tensor, line_tensor = randomTrainingExample()
    output, loss = train(category_tensor, line_tensor)
    current_loss += loss
    if it % 100 == 0:
        guess, guess_i = categoryFromOutput(output)
        print(f"loss {it} {current_loss / 100:.6f} {line} {guess} {'ok' if guess == category else 'wrong'}")
        current_loss = 0


def evaluate(line_tensor):
    hidden = rnn.initHidden()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    return output


confusion = torch.zeros(n_categories, n_categories)
with torch.no_grad():
    for category in all_categories:
        for line in category_lines[category]:
            guess, guess_i = categoryFromOutput(evaluate(lineToTensor(line)))
            confusion[all_categories.index(category)][guess_i] += 1
for i in range(n_categories):
    confusion[i] = confusion[i] / confusion[i].sum()
print("confusion:", " ".join(f"{v:.3f}" for v in confusion.view(-1).tolist()))


# a generator: category, input letter and hidden state in, the next letter's log-probabilities out
class Generator(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(0.1)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output = self.o2o(torch.cat((hidden, output), 1))
        output = self.dropout(output)  # in eval mode only: training draws a different mask in each library
        return self.softmax(output), hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


n_out = n_letters + 1  # the last index means the end of the name
gen = Generator(n_letters, 48, n_out)
numpy_init(gen, 0.1)
gen.eval()


def categoryTensor(category):
    tensor = torch.zeros(1, n_categories)
    tensor[0][all_categories.index(category)] = 1
    return tensor


def targetTensor(line):
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_out - 1)  # EOS
    return torch.LongTensor(letter_indexes)


def train_gen(category_tensor, input_line_tensor, target_line_tensor):
    target_line_tensor.unsqueeze_(-1)
    hidden = gen.initHidden()
    gen.zero_grad()
    loss = torch.Tensor([0])
    for i in range(input_line_tensor.size(0)):
        output, hidden = gen(category_tensor, input_line_tensor[i], hidden)
        loss += criterion(output, target_line_tensor[i])
    loss.backward()
    for p in gen.parameters():
        p.data.add_(p.grad.data, alpha=-0.01)
    return output, loss.item() / input_line_tensor.size(0)


random.seed(2)
total = 0.0
for it in range(1, 151):
    category = random.choice(all_categories)
    line = random.choice(category_lines[category])
    _, loss = train_gen(categoryTensor(category), lineToTensor(line), targetTensor(line))
    total += loss
    if it % 50 == 0:
        print(f"generator {it} {total / 50:.6f}")
        total = 0.0


def sample(category, start_letter="A", max_length=10):
    with torch.no_grad():
        category_tensor = categoryTensor(category)
        input = lineToTensor(start_letter)
        hidden = gen.initHidden()
        output_name = start_letter
        for i in range(max_length):
            output, hidden = gen(category_tensor, input[0], hidden)
            topv, topi = output.topk(1)
            topi = topi[0][0]
            if topi == n_out - 1:
                break
            letter = all_letters[topi]
            output_name += letter
            input = lineToTensor(letter)
        return output_name


print("samples:", sample("Vowelish", "A"), sample("Consonantish", "B"), sample("Consonantish", "S"))
