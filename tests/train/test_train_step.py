"""``train_step`` is one step of gradient descent, and it is the step :func:`run` takes."""

import numpy as np

from micrograd_plus import Tensor, nn, optim
from micrograd_plus.train import loop


class _Constant:
    """A schedule that keeps the learning rate (counts its steps)."""

    def __init__(self):
        self.steps = self.last_step = 0

    def step(self):
        self.steps += 1
        self.last_step += 1


class _Line(loop.Task):
    """Fit y = 2x with one weight: loss = mean((w x - y)^2)."""

    name, max_iters, eval_interval = "line", 3, 3

    def __init__(self):
        self.model = nn.Linear(1, 1, bias=False)
        self.model.weight.data[...] = 0.5
        self.optimizer = optim.SGD(self.model.parameters(), lr=0.25)
        self.scheduler = _Constant()
        self.x = np.array([[1.0], [2.0]], dtype=np.float32)  # (2, 1)

    def get_batch(self, step):
        return self.x

    def loss(self, batch):
        err = self.model(Tensor(batch)) - Tensor(2.0 * batch)  # (2, 1)
        return (err * err).mean(), len(batch)

    def evaluate(self, step, recent):
        return {"loss": float(self.loss(self.x)[0].item())}


def test_one_step_is_the_update_worked_by_hand():
    task = _Line()
    task.loss(task.x)[0].backward()  # a stale gradient, which the step must zero before its own
    seen = []
    loss, samples, norm = loop.train_step(task, task.x, list(task.model.parameters()),
                                          between=lambda phase, loss=None: seen.append(phase))
    # w = 0.5: errors (0.5 - 2) x = -1.5, -3; loss = (2.25 + 9) / 2 = 5.625
    # dloss/dw = mean(2 * err * x) = (2 * -1.5 * 1 + 2 * -3 * 2) / 2 = -7.5; w = 0.5 + 0.25 * 7.5 = 2.375
    assert (loss, samples, norm) == (5.625, 2, None)
    assert task.model.weight.data[0, 0] == np.float32(2.375)
    assert seen == ["backward", "clip", "optimizer"] and task.scheduler.steps == 1


def test_run_takes_its_steps_with_train_step(monkeypatch):
    calls = []
    real = loop.train_step

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", spy)
    result = loop.run(_Line(), log=None, progress=False)
    assert result.finished and result.step == 3 and len(calls) == 3
