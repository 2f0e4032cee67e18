"""Progress bars: shown on a terminal, hidden otherwise, and never able to break a training loop."""

import io
import warnings

import pytest
import tqdm

from micrograd_plus.train import progress as progress_module
from micrograd_plus.train.progress import Progress, progress, progress_disabled


class FakeTerminal(io.StringIO):
    """A text stream that claims to be a terminal."""

    def isatty(self):
        return True


def test_auto_disable_rules(monkeypatch):
    monkeypatch.delenv("MICROGRAD_PLUS_NO_PROGRESS", raising=False)
    assert progress_disabled(file=io.StringIO())  # not a terminal: hidden
    assert not progress_disabled(file=FakeTerminal())
    assert not progress_disabled(disable=False, file=io.StringIO())  # explicit wins
    assert progress_disabled(disable=True, file=FakeTerminal())
    monkeypatch.setenv("MICROGRAD_PLUS_NO_PROGRESS", "1")
    assert progress_disabled(file=FakeTerminal())
    assert not progress_disabled(disable=False, file=FakeTerminal())


def test_hidden_bar_passes_items_through_and_prints_nothing(monkeypatch):
    monkeypatch.setenv("MICROGRAD_PLUS_NO_PROGRESS", "1")
    out = FakeTerminal()
    bar = progress(range(5), desc="epoch 1", file=out)
    seen = []
    for i in bar:
        seen.append(i)
        bar.log(loss=1.0 / (i + 1), samples=10)
    assert seen == [0, 1, 2, 3, 4]
    assert out.getvalue() == ""
    assert bar.disabled and bar.n == 5 and bar.samples == 50
    assert bar.rate > 0


def test_shown_bar_displays_desc_loss_and_throughput(monkeypatch):
    monkeypatch.delenv("MICROGRAD_PLUS_NO_PROGRESS", raising=False)
    out = FakeTerminal()
    bar = progress(range(4), desc="epoch 7", file=out, unit="batch")
    assert not bar.disabled and len(bar) == 4
    for _ in bar:
        bar.log(loss=0.123456, samples=64)
    text = out.getvalue()
    assert "epoch 7" in text
    assert "4/4" in text
    assert "loss=0.1235" in text  # 4 significant digits
    assert "samples/s=" in text


def test_manual_update_and_context_manager(monkeypatch):
    out = FakeTerminal()
    with progress(total=3, desc="eval", file=out, disable=False) as bar:
        for _ in range(3):
            bar.update()
        bar.set_postfix(acc=0.975)
    assert bar.n == 3
    assert "3/3" in out.getvalue() and "acc=0.975" in out.getvalue()
    with pytest.raises(TypeError, match="update"):
        iter(Progress(total=3, disable=True)).__next__()


def test_rate_is_samples_over_elapsed_time(monkeypatch):
    clock = iter([100.0, 102.0, 102.0])  # created at t=100, asked at t=102
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    bar = Progress(total=1, disable=True)
    bar.samples = 500
    assert bar.rate == pytest.approx(250.0)


class BrokenTqdm:
    """A tqdm stand-in whose every call fails, like a closed terminal would."""

    calls = 0

    def __init__(self, *args, **kwargs):
        pass

    def update(self, n=1):
        BrokenTqdm.calls += 1
        raise OSError("terminal went away")

    def set_postfix(self, *args, **kwargs):
        BrokenTqdm.calls += 1
        raise OSError("terminal went away")

    def write(self, message):
        BrokenTqdm.calls += 1
        raise ValueError("I/O operation on closed file")

    def close(self):
        raise OSError("terminal went away")


def test_failing_tqdm_never_breaks_the_loop(monkeypatch, capsys):
    monkeypatch.setattr(tqdm, "tqdm", BrokenTqdm)
    BrokenTqdm.calls = 0
    bar = progress(range(6), file=FakeTerminal(), disable=False)
    total = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in bar:
            total += i
            bar.log(loss=float(i), samples=1)
        bar.write("epoch done")
    assert total == 15 and bar.n == 6
    assert BrokenTqdm.calls == 1  # gave up on tqdm after its first failure
    assert len(caught) == 1 and "terminal went away" in str(caught[0].message)
    assert "epoch done" in capsys.readouterr().out  # falls back to print


def test_tqdm_failing_at_construction(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("no tqdm today")

    monkeypatch.setattr(tqdm, "tqdm", explode)
    with pytest.warns(RuntimeWarning, match="no tqdm today"):
        bar = progress([1, 2, 3], disable=False)
    assert list(bar) == [1, 2, 3]
