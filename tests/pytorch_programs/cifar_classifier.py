"""The official "Training a Classifier" tutorial's idiom, written fresh on CIFAR-shaped random images
(3x32x32, four classes, each a noisy colour pattern): a conv net with nn.MaxPool2d, a DataLoader read
with enumerate(loader, 0) and next(iter(loader)), running_loss, torch.max(outputs, 1) for the
predicted classes, a tuple of class names indexed with tensor elements, per-class accuracy in dicts,
BatchNorm2d and ReduceLROnPlateau, and the state_dict saved and loaded. Data and weights from numpy."""

import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(81)
classes = ("plane", "car", "bird", "cat")
patterns = rng.random((4, 3, 32, 32)).astype(np.float32)
labels = rng.integers(0, 4, 160)
images = (patterns[labels] + 0.5 * rng.standard_normal((160, 3, 32, 32))).astype(np.float32)
trainset = TensorDataset(torch.from_numpy(images[:128]), torch.from_numpy(labels[:128]))
testset = TensorDataset(torch.from_numpy(images[128:]), torch.from_numpy(labels[128:]))
batch_size = 16
trainloader = DataLoader(trainset, batch_size=batch_size, shuffle=False, num_workers=0)
testloader = DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=0)

dataiter = iter(trainloader)
images_b, labels_b = next(dataiter)
print("batch:", list(images_b.shape), " ".join(f"{classes[labels_b[j]]:5s}" for j in range(4)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.bn1 = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 4)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))  # (N, 6, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        return self.fc2(x)


net = Net()
net.load_state_dict({k: torch.from_numpy((rng.standard_normal(tuple(v.shape)) / np.sqrt(np.prod(v.shape[1:]) if v.dim() > 1 else 25))
                                         .astype(np.float32))
                     for k, v in net.named_parameters()}, strict=False)  # BatchNorm's running stats stay
print("buffers:", sorted(name for name, _ in net.named_buffers()))
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0)

for epoch in range(3):
    net.train()
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels_t = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels_t)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        if i % 4 == 3:
            print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 4:.5f}")
            running_loss = 0.0
    net.eval()
    with torch.no_grad():
        val = sum(criterion(net(x), y).item() for x, y in testloader) / len(testloader)
    scheduler.step(val)
    print(f"loss {epoch} {val:.5f} lr {optimizer.param_groups[0]['lr']:.4f}")

print("running mean:", " ".join(f"{v:.4f}" for v in net.bn1.running_mean.tolist()), net.bn1.num_batches_tracked.item())
PATH = os.path.join(tempfile.mkdtemp(), "cifar_net.pth")
torch.save(net.state_dict(), PATH)
net = Net()
net.load_state_dict(torch.load(PATH, weights_only=True))
net.eval()

correct = 0
total = 0
with torch.no_grad():
    for data in testloader:
        images_t, labels_t = data
        outputs = net(images_t)
        _, predicted = torch.max(outputs.data, 1)
        total += labels_t.size(0)
        correct += (predicted == labels_t).sum().item()
print(f"Accuracy of the network on the {total} test images: {100 * correct // total} %")

correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}
with torch.no_grad():
    for data in testloader:
        images_t, labels_t = data
        _, predictions = torch.max(net(images_t), 1)
        for label, prediction in zip(labels_t, predictions):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1
for classname, correct_count in correct_pred.items():
    accuracy = 100 * float(correct_count) / max(total_pred[classname], 1)
    print(f"Accuracy for class: {classname:5s} is {accuracy:.1f} %")
