"""The training loop every model shares: MNIST, the GPT, and whatever comes next.

A model brings a :class:`Task` -- its network, optimiser and schedule, how to draw the batch of
a step, how to compute the loss, how to evaluate -- and :func:`run` does the rest. The step
itself is :func:`train_step`, six lines (forward, zero_grad, backward, clip, step, schedule);
everything else here is what keeps a long run safe around it::

    while True:
        if step is an evaluation point:            # every eval_interval steps, and at the end
            row = task.evaluate(step)              # e.g. {"val_loss": 1.93}
            save ckpt.npz if row is the best so far; save last.npz
        if finished, Ctrl-C was pressed, or --stop-after reached: save last.npz and stop
        batch = task.get_batch(step)               # the data position is part of the saved state
        train_step(task, batch, params):
            loss, samples = task.loss(batch)       # forward
            (stop on a NaN/inf loss, DivergedError, saving nothing after it)
            optimizer.zero_grad(); loss.backward() # backward
            clip_grad_norm_(params, task.grad_clip)  # optional
            optimizer.step(); scheduler.step()     # update, next learning rate
        stop if a weight became NaN/inf (before the next forward pass feeds it to a kernel)
        step += 1; log {"step", "loss", "lr", ...}

What makes it a tool and not a toy:

* **Exact resume.** State is saved only between steps, and everything that decides the future
  goes into one checkpoint: weights, optimiser moments, the schedule's position, the task's
  generators and data position (:meth:`Task.state`), the losses so far. A run stopped at any
  moment and resumed ends with the same weights, bit for bit, as one never stopped.
* **Ctrl-C is a request, not an exception.** The first Ctrl-C sets a flag that the loop reads
  between steps (so it can never land half-way through an optimiser step or inside a compiled
  kernel); the run saves ``last.npz`` and returns ``interrupted=True`` (the CLI exits 130). A
  second Ctrl-C aborts at once; the atomic writes still leave no half-written file. SIGTERM and
  SIGHUP (``kill``, a closed terminal, a scheduler) are handled the same way (the CLI exits 143 / 129).
* **The non-finite guard.** A NaN or infinite loss, or a weight that an update made NaN or
  infinite, stops the run with one line naming the step and the likely cause; no checkpoint is
  written after it, and no checkpoint is ever written holding a NaN, so the last one on disk is good.
* **The run directory** (:mod:`~micrograd_plus.train.rundir`): one layout for every model, a
  lock, and no run silently replacing another.
"""

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from micrograd_plus.nn.utils import clip_grad_norm_
from micrograd_plus.optim import checked_finite, flat_state_dict
from micrograd_plus.train.checkpoint import first_non_finite, load_training_checkpoint, meta_field, strip_prefix
from micrograd_plus.train.errors import CheckpointError, DivergedError, Terminated
from micrograd_plus.train.progress import progress as progress_bar
from micrograd_plus.train.rundir import BEST, LAST, RunDir


#: The phases of a step, in order, at which :func:`run` calls ``on_phase(name, step, task)``.
PHASES = ("batch", "forward", "backward", "clip", "optimizer", "eval", "save")


class Task:
    """What a model supplies to :func:`run`. Subclass it and set / implement:

    Attributes:
        name: a short name, e.g. ``"gpt"`` (progress bar, messages).
        format: identifies its checkpoints, e.g. ``"micrograd_plus.gpt/2"``.
        model, optimizer, scheduler: the network, its optimiser and learning-rate schedule.
        max_iters: the number of optimiser steps of the whole run (the schedule's length).
        eval_interval: evaluate (and save ``last.npz``) every this many steps, and at the end.
        eval_at_start: also evaluate at step 0, before any training.
        best_metric: the key of :meth:`evaluate`'s dict whose lowest value makes ``ckpt.npz``.
        grad_clip: clip the global gradient norm to this (0: no clipping).
    """

    name = "task"
    format = "micrograd_plus.task/1"
    model = optimizer = scheduler = None
    max_iters = 1
    eval_interval = 1
    eval_at_start = False
    best_metric = "loss"
    grad_clip = 0.0

    def get_batch(self, step):
        """The batch of step ``step`` (0-based); may advance the task's data generator."""
        raise NotImplementedError

    def loss(self, batch):
        """Forward pass: ``(loss, samples)``, a scalar loss Tensor and the batch's sample count."""
        raise NotImplementedError

    def evaluate(self, step, recent):
        """A dict of floats at step ``step``; ``recent`` is the sample-weighted mean training loss
        since the previous evaluation (None if no step was taken)."""
        raise NotImplementedError

    def describe_eval(self, row):
        """The line printed for an evaluation row."""
        return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())

    def step_log(self):
        """Extra floats for the log row of the step just taken (e.g. an RL step's mean reward)."""
        return {}

    def state(self):
        """JSON-able state that decides the future besides weights and optimiser (generators...)."""
        return {}

    def load_state(self, state):
        """Restore :meth:`state`'s output; raise KeyError/TypeError/ValueError on a bad one."""


@dataclass
class TrainResult:
    """What :func:`run` (and so every ``train``) returns.

    Attributes:
        model: the network after the last step taken.
        task: the :class:`Task` (its config, tokenizer, data...).
        step: optimiser steps taken in total; ``max_iters``: the run's length.
        finished: all ``max_iters`` were taken; ``interrupted``: stopped by Ctrl-C, SIGTERM or
            SIGHUP (``signal``: which one's number, e.g. ``signal.SIGTERM``; None otherwise).
        evals: every evaluation row so far (over a resumed run's earlier part too).
        best_loss: the lowest ``task.best_metric`` seen (inf if none).
        step_losses: float32 array, the training loss of every step so far.
        ms_per_step: median milliseconds of a training step in this process (NaN if none).
        out_dir: the run directory (None if nothing was saved); ``checkpoint``: the last file written.
        peak_rss_mb: the process's peak memory in MB, where the trainer measures it (the GPT's).

    One name per field: the task's own things are ``result.task.tokenizer``, ``result.task.config``;
    the last evaluation is ``result.evals[-1]`` (``{"step", "val_loss", ...}``).
    """

    model: object
    task: object
    step: int = 0
    max_iters: int = 0
    finished: bool = False
    interrupted: bool = False
    signal: int = None
    evals: list = field(default_factory=list)
    best_loss: float = math.inf
    step_losses: np.ndarray = None
    ms_per_step: float = math.nan
    out_dir: object = None
    checkpoint: object = None
    peak_rss_mb: float = math.nan


#: The signals a run treats as "stop at the next step boundary": Ctrl-C, SIGTERM, SIGHUP.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class StopFlag:
    """Turns the first Ctrl-C (SIGINT), SIGTERM or SIGHUP into a request that the loop reads between steps.

    The handler only sets :attr:`requested` (and :attr:`signum`, which signal it was): it never
    raises, so it cannot interrupt a compiled kernel or an optimiser step half-way. A second signal
    raises at once (KeyboardInterrupt, or :class:`~micrograd_plus.train.errors.Terminated` for
    SIGTERM/SIGHUP; a hard abort, the atomic writes still leave no half-written file). Outside the
    main thread, where Python cannot install signal handlers, it does nothing.
    """

    def __init__(self):
        self.requested = False
        self.signum = None
        self._previous = {}
        self._enabled = threading.current_thread() is threading.main_thread()

    def _handler(self, signum, frame):
        if self.requested:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)
        self.requested = True
        self.signum = signum

    def __enter__(self):
        if self._enabled:
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc):
        if self._enabled:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)
        return False


def _snapshot(task, step, loop_state):
    """Everything that decides the future, as ``(arrays, meta)`` for one checkpoint."""
    arrays = {f"model.{k}": np.asarray(v) for k, v in task.model.state_dict().items()}
    arrays.update({f"optim.{k}": np.asarray(v) for k, v in flat_state_dict(task.optimizer.state_dict()).items()})
    arrays["loop.step_losses"] = np.asarray(loop_state["step_losses"], dtype=np.float32)
    meta = {
        "format": task.format,
        "step": step,
        "max_iters": task.max_iters,
        "evaluated_at": loop_state["evaluated_at"],
        "best": None if not math.isfinite(loop_state["best"]) else loop_state["best"],
        "recent": loop_state["recent"],  # loss sum, samples and seconds since the last evaluation
        "evals": loop_state["evals"],
        "scheduler_step": task.scheduler.last_step,
        "task": task.state(),
    }
    return arrays, meta


def _restore(task, path):
    """Load ``path`` (a checkpoint of ``task``'s kind) into ``task``; returns ``(step, loop_state)``."""
    arrays, meta = load_training_checkpoint(path, task.format, f"a {task.name} training checkpoint")
    step = meta_field(meta, "step", int, path)
    if not 0 <= step <= task.max_iters:
        raise CheckpointError(f"{path}: metadata field 'step' is {step}, outside 0..{task.max_iters}")
    bad = first_non_finite(arrays)
    if bad is not None:
        raise CheckpointError(f"{path}: {bad} holds NaN or inf values, so this run cannot continue from it; "
                              "start again with --force (or from an earlier copy)")
    model = strip_prefix(arrays, "model")
    optim = strip_prefix(arrays, "optim")
    recent = meta_field(meta, "recent", dict, path)
    try:
        task.model.load_state_dict(model)
        task.optimizer.load_state_dict(optim)
        task.scheduler.load_state_dict({"last_step": meta_field(meta, "scheduler_step", int, path),
                                        "base_lrs": task.scheduler.base_lrs})
        task.load_state(meta_field(meta, "task", dict, path))
        loop_state = {
            "evaluated_at": meta_field(meta, "evaluated_at", int, path, optional=True),
            "best": meta_field(meta, "best", float, path, optional=True),
            "recent": {k: float(recent[k]) for k in ("loss", "samples", "seconds")},
            "evals": meta_field(meta, "evals", list, path),
            "step_losses": [float(v) for v in arrays["loop.step_losses"]],
        }
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: does not fit this run ({type(exc).__name__}: {exc})".replace("\n", " ")) \
            from None
    if loop_state["best"] is None:  # no evaluation yet
        loop_state["best"] = math.inf
    elif not math.isfinite(loop_state["best"]):  # NaN would never be beaten: ckpt.npz never replaced again
        raise CheckpointError(f"{path}: metadata field 'best' is {loop_state['best']}, not a loss (a finite number "
                              "or null); the file is damaged or was edited")
    if len(loop_state["step_losses"]) != step:
        raise CheckpointError(f"{path}: holds {len(loop_state['step_losses'])} step losses for step {step}")
    return step, loop_state


def _likely_cause(task, step, start, resumed):
    """One sentence on why the guard fired at ``step``."""
    for g, group in enumerate(task.optimizer.param_groups):
        for key, v in group.items():
            if key != "params" and isinstance(v, float) and not math.isfinite(v):
                return f"hyperparameter {key} of parameter group {g} is {v}"
    if resumed and step == start and first_non_finite({n: p.numpy() for n, p in task.model.named_parameters()}):
        return "the weights it resumed with hold NaN/inf"
    return "the learning rate is probably too high (try a smaller --learning-rate)"


def train_step(task, batch, params, between=lambda phase, loss=None: None):
    """One step of gradient descent, the six lines every training loop is built around.

    Forward (the loss of this batch), zero_grad, backward (the gradient of the loss with respect
    to every weight), clip (the gradient's length, if ``task.grad_clip``), step (the optimiser's
    update), and the learning-rate schedule's next step. ``between(phase, loss)`` is called
    between them with the names of :data:`PHASES`: the run's guard (a NaN loss is never
    backpropagated) and the tests' hooks live there, in :class:`_Run`, not in here.

    Returns ``(loss, samples, norm)``: the loss as a float, the batch's sample count, and the
    gradient's norm before clipping (None without clipping).
    """
    loss, samples = task.loss(batch)  # forward: a scalar Tensor
    between("backward", loss)  # the guard raises here on a NaN/inf loss
    task.optimizer.zero_grad()  # forget the previous step's gradients
    loss.backward()  # d loss / d w for every weight w, into w.grad
    between("clip")
    norm = clip_grad_norm_(params, task.grad_clip) if task.grad_clip > 0 else None
    between("optimizer")
    task.optimizer.step()  # w -= lr * (the optimiser's rule applied to w.grad)
    task.scheduler.step()  # the learning rate of the next step
    return float(loss.item()), samples, norm


def run(task, run_dir=None, stop_after=None, progress=None, log=print, on_phase=None):
    """Train ``task`` from its current state (or from ``run_dir``'s ``last.npz`` when resuming).

    Args:
        task: a :class:`Task`.
        run_dir: an open :class:`~micrograd_plus.train.rundir.RunDir`, or None (save nothing).
        stop_after: stop (and save) once this many steps are done in total, as if interrupted;
            the schedule still spans ``task.max_iters``, so ``--resume`` carries on.
        progress: False hides the progress bar; None or True show it when stderr is a terminal.
        log: called with each line of text (None: silent).
        on_phase: optional ``on_phase(name, step, task)`` called at each of :data:`PHASES` (tests
            use it to press Ctrl-C, or poison a weight, at chosen moments).

    Returns:
        a :class:`TrainResult`.

    Raises:
        DivergedError: the loss became NaN/inf (nothing saved after it).
        CheckpointError, RunDirError: the checkpoint to resume is unusable, or the disk refuses.
    """
    r = _Run(task, run_dir if run_dir is not None else RunDir(None), log, on_phase)
    how = None
    with r.progress_bar(progress), StopFlag() as stop, np.errstate(all="ignore"):  # the guards report NaN
        while True:
            if r.at_evaluation():
                r.evaluate_and_save()
            how = r.reason_to_stop(stop, stop_after)
            if how:
                break
            r.step_once()  # train_step, with its guards, timing and log line
        if how != "finished" and r.state["evaluated_at"] != r.step:
            r.save(best=False)  # stopped between evaluations: last.npz must hold this very step
    return r.result(how, stop.signum)


class _Run:
    """The state of one :func:`run` and the guards around :func:`train_step`: evaluation, saving,
    the non-finite checks, the test hooks, timing and the log."""

    def __init__(self, task, run_dir, log, on_phase):
        self.task, self.run_dir, self.on_phase = task, run_dir, on_phase
        self.say = log or (lambda *a, **k: None)
        self.write = self.say
        self.state = {"evaluated_at": None, "best": math.inf, "recent": {"loss": 0.0, "samples": 0.0, "seconds": 0.0},
                      "evals": [], "step_losses": []}
        self.step = 0
        if run_dir.resume:
            self.step, self.state = _restore(task, run_dir.path / LAST)
            run_dir.trim_log(self.step, self.state["evaluated_at"] == self.step)
            self.say(f"resuming {run_dir.path / LAST} at step {self.step} of {task.max_iters}")
        self.start = self.step
        self.params = list(task.model.parameters())
        self.checkpoint = None
        self.last_good = (f"{run_dir.path / LAST} (step {self.step})" if run_dir.resume
                          else "none (none was written yet)")
        self.step_ms = []
        self.bar = None

    def phase(self, name, loss=None):
        """A seam of the step: the NaN-loss guard before ``backward``, then the test hook."""
        if name == "backward":
            value = float(loss.item())
            if not math.isfinite(value):
                raise self.diverged(f"the loss became {value} at step {self.step + 1} (learning rate {self.lr:g})")
        if self.on_phase is not None:
            self.on_phase(name, self.step, self.task)

    @contextlib.contextmanager
    def progress_bar(self, progress):
        """The progress bar for the run (None: shown on a terminal), closed however the run ends."""
        self.bar = progress_bar(total=self.task.max_iters, desc=self.task.name, unit="step",
                                disable=True if progress is False else None)
        self.bar.update(self.step)
        self.write = self.say if self.bar.disabled else self.bar.write
        self.task.model.train()
        try:
            yield self.bar
        finally:
            self.bar.close()

    def at_evaluation(self):
        """Is this step an evaluation point not yet evaluated (a resumed run evaluated here already)?"""
        task, step = self.task, self.step
        due = step == task.max_iters or (step % task.eval_interval == 0 and (step > 0 or task.eval_at_start))
        return due and self.state["evaluated_at"] != step

    def reason_to_stop(self, stop, stop_after):
        """``"finished"``, ``"interrupted"`` (Ctrl-C during the step or evaluation just done),
        ``"stop_after"``, or None to go on."""
        if self.step >= self.task.max_iters:
            return "finished"
        if stop.requested:
            return "interrupted"
        if stop_after is not None and self.step >= stop_after:
            return "stop_after"
        return None

    def step_once(self):
        """One :func:`train_step` with the guards around it, then its log line."""
        task, state = self.task, self.state
        t0 = time.perf_counter()
        self.lr = float(task.optimizer.param_groups[0]["lr"])
        self.phase("batch")
        batch = task.get_batch(self.step)
        self.phase("forward")
        loss, samples, norm = train_step(task, batch, self.params, self.phase)
        if not self.weights_finite():  # before a kernel sees them
            raise self.diverged(f"the weights became NaN/inf in the update of step {self.step + 1} "
                                f"(learning rate {self.lr:g}, loss {loss:.4g})")
        del batch
        self.step += 1
        ms = (time.perf_counter() - t0) * 1e3
        self.step_ms.append(ms)
        state["step_losses"].append(loss)
        recent = state["recent"]
        recent["loss"] += loss * samples
        recent["samples"] += samples
        recent["seconds"] += ms / 1e3
        row = {"step": self.step, "loss": loss, "lr": self.lr, "ms": round(ms, 2)}
        if norm is not None:
            row["grad_norm"] = float(norm)
        row.update(task.step_log())
        self.run_dir.log(row)
        self.bar.update(1)
        self.bar.log(loss=loss, samples=samples)

    def weights_finite(self):
        """Are all the weights finite after this step's update? A parameter whose new values the
        optimizer's compiled update already counted as it wrote them
        (``micrograd_plus.optim.checked_finite``) is not read again; every other one is
        scanned here."""
        checked = checked_finite(self.task.optimizer)
        return all(id(p) in checked or np.isfinite(p.numpy()).all() for p in self.params)

    def diverged(self, what):
        cause = _likely_cause(self.task, self.step, self.start, self.run_dir.resume)
        return DivergedError(f"{what}: {cause}. Training stopped; the last good checkpoint is {self.last_good}")

    def save(self, best):
        """Write ``last.npz`` (and ``ckpt.npz`` when ``best``), never a state holding NaN/inf."""
        self.phase("save")
        arrays, meta = _snapshot(self.task, self.step, self.state)
        bad = first_non_finite(arrays)
        if bad is not None:  # never write a NaN state: the previous checkpoint stays the good one
            raise self.diverged(f"{bad} became NaN/inf by step {self.step}")
        if best:
            self.run_dir.save(BEST, arrays, meta)
        self.checkpoint = self.run_dir.save(LAST, arrays, meta)
        self.run_dir.commit()
        if self.checkpoint is not None:
            self.last_good = f"{self.checkpoint} (step {self.step})"

    def evaluate_and_save(self):
        """Evaluate, log the row, save (``ckpt.npz`` too when it is the best so far), say it."""
        task, state, step = self.task, self.state, self.step
        self.phase("eval")
        recent = state["recent"]
        row = task.evaluate(step, recent["loss"] / recent["samples"] if recent["samples"] else None)
        row = {"step": step, "eval": True, **row, "seconds": recent["seconds"]}
        if not math.isfinite(row[task.best_metric]):
            raise self.diverged(f"the evaluation's {task.best_metric} became {row[task.best_metric]} at step {step}")
        best = row[task.best_metric] < state["best"]
        state["best"] = min(state["best"], row[task.best_metric])
        state["evals"].append(row)
        state["evaluated_at"] = step
        state["recent"] = {"loss": 0.0, "samples": 0.0, "seconds": 0.0}
        self.run_dir.log(row)
        self.save(best)
        self.write(task.describe_eval(row) + ("  (best so far: saved ckpt.npz)" if best and self.run_dir.path else ""))

    def result(self, how, signum):
        """The :class:`TrainResult`, and the line that says how a run that did not finish stopped
        (``signum``: the signal that stopped it, or None)."""
        state, step = self.state, self.step
        result = TrainResult(model=self.task.model, task=self.task, max_iters=self.task.max_iters,
                             out_dir=self.run_dir.path, checkpoint=self.checkpoint, step=step,
                             finished=how == "finished", interrupted=how == "interrupted", evals=state["evals"],
                             best_loss=state["best"], step_losses=np.asarray(state["step_losses"], dtype=np.float32),
                             ms_per_step=float(np.median(self.step_ms)) if self.step_ms else math.nan,
                             signal=signum if how == "interrupted" else None)
        if how != "finished":
            what = (f"stopped after {step} steps (--stop-after)" if how != "interrupted" else "interrupted"
                    if signum in (None, signal.SIGINT) else f"stopped by {signal.Signals(signum).name}")
            saved = (f"saved {result.checkpoint}; continue with --resume --out {self.run_dir.path}"
                     if result.checkpoint else "nothing saved (no output directory)")
            self.write(f"{what} at step {step} of {self.task.max_iters}: {saved}")
        return result
