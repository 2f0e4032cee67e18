"""PyTorch's layers take ``device=`` (``nn.Linear(4, 2, device=device)``): the CPU is accepted, a GPU
is refused in one line naming the layer."""

import pytest

from micrograd_plus import device, nn

LAYERS = {
    "Linear": lambda **k: nn.Linear(4, 2, **k),
    "Embedding": lambda **k: nn.Embedding(5, 3, **k),
    "LayerNorm": lambda **k: nn.LayerNorm(3, **k),
    "Conv1d": lambda **k: nn.Conv1d(2, 3, 3, **k),
    "Conv2d": lambda **k: nn.Conv2d(1, 2, 3, **k),
    "BatchNorm1d": lambda **k: nn.BatchNorm1d(3, **k),
    "BatchNorm2d": lambda **k: nn.BatchNorm2d(3, **k),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("where", ["cpu", device("cpu"), None])
def test_the_cpu_is_accepted(name, where):
    layer = LAYERS[name](device=where)
    assert all(p.device == device("cpu") for p in layer.parameters())


@pytest.mark.parametrize("name", LAYERS)
def test_a_gpu_is_one_line_naming_the_layer(name):
    with pytest.raises(RuntimeError) as e:
        LAYERS[name](device="cuda")
    line = str(e.value)
    assert "\n" not in line and name in line and "CPU" in line
