"""pycnn.train: the training loop, evaluation, callbacks and checkpoints.

    history = fit(model, train_loader, loss, optimizer, epochs, val_loader=None, scheduler=None,
                  callbacks=(), device="cpu", progress="auto", resume=None)
    metrics = evaluate(model, loader, topk=(1, 5), loss=None, device="cpu")

Loaders yield (images, labels) batches as numpy arrays or pycnn Tensors (pycnn.data.DataLoader does).
Checkpoints are .npz files (numpy arrays plus one JSON string; never pickle; pycnn.checkpoint_files),
written to a temporary file in the same folder, flushed to disk and renamed over the old one, so a run
killed mid-write leaves the previous checkpoint intact. A run resumed from a checkpoint restores the
weights, the optimizer's and scheduler's state, the epoch, the history and every random generator,
and so ends with exactly the weights of a run never interrupted.
"""
import csv
import json
import math
import os
import sys
import time

import numpy as np

from .autograd import no_grad
from .checkpoint_files import load_checkpoint, restore_run, save_checkpoint, set_random_states
from .files import atomic_write, require_folder, temporary_prefix
from .optim.lr_scheduler import ReduceLROnPlateau
from .tensor import Tensor, from_numpy

__all__ = ["fit", "evaluate", "History", "Callback", "EarlyStopping", "Checkpoint", "save_checkpoint",
           "load_checkpoint"]


# ----- history ------------------------------------------------------------------------------------
class History:
    """Per-epoch metrics: ``history["train_loss"]`` is a list with one value per epoch."""

    def __init__(self, records=None):
        self.records = list(records or [])

    def append(self, record):
        self.records.append(dict(record))

    def __getitem__(self, key):
        return [r.get(key) for r in self.records]

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        if not self.records:
            return "History(epochs=0)"
        last = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in self.records[-1].items())
        return f"History(epochs={len(self.records)}, keys={self.keys()}, last: {last})"

    def keys(self):
        keys = []
        for r in self.records:
            keys += [k for k in r if k not in keys]
        return keys

    def save_json(self, path):
        atomic_write(path, lambda f: f.write(json.dumps(self.records, indent=1).encode()), "History.save_json")

    def save_csv(self, path):
        keys = self.keys()

        def write(f):
            import io

            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.records)
            f.write(text.getvalue().encode())
        atomic_write(path, write, "History.save_csv")

    def plot(self, path):
        """Loss and accuracy curves, train vs validation, as a PNG (needs matplotlib)."""
        from .viz import plot_history

        plot_history(self, path)


# ----- batches ------------------------------------------------------------------------------------
def _as_tensor(value, device):
    if isinstance(value, Tensor):
        return value if value.device == device else value.to(device)
    array = np.asarray(value)
    if array.dtype.kind == "f":
        array = np.ascontiguousarray(array, dtype=np.float32)
    elif array.dtype.kind in "iu":
        array = np.ascontiguousarray(array, dtype=np.int64)
    else:
        raise TypeError(f"fit: expected numeric batches, got dtype {array.dtype}")
    t = from_numpy(array)
    return t if device == "cpu" else t.to(device)


def _labels_numpy(labels):
    return labels.numpy() if isinstance(labels, Tensor) else np.asarray(labels)


def _topk_correct(logits, labels, ks):
    """How many rows have their label among the k largest logits, for each k."""
    scores = logits.reshape(logits.shape[0], -1)
    if list(ks) == [1]:  # the training loop's case: argmax is several times cheaper than a sort
        return [int((scores.argmax(axis=1) == labels).sum())]
    order = np.argsort(-scores, axis=1, kind="stable")  # ties rank the lower class first, as argmax
    hits = order == labels[:, None]
    return [int(hits[:, :k].any(axis=1).sum()) for k in ks]


def evaluate(model, loader, topk=(1, 5), loss=None, device="cpu"):
    """Accuracy (top-k for each k, as fractions ``top1``, ``top5``...) and mean loss over ``loader``,
    in eval mode without a tape. The model's train/eval mode is restored afterwards."""
    if not topk or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in topk):
        raise ValueError(f"evaluate: topk must be positive ints, got {topk!r}")
    was_training = getattr(model, "training", False)
    model.eval()
    correct = [0] * len(topk)
    total, loss_sum = 0, 0.0
    try:
        with no_grad():
            for images, labels in loader:
                x = _as_tensor(images, device)
                y = _as_tensor(labels, device)
                out = model(x)
                out = out[0] if isinstance(out, tuple) else out
                if loss is not None:
                    loss_sum += float(loss(out, y).item()) * x.shape[0]
                scores = out.numpy()
                ks = [min(k, scores.shape[1]) for k in topk]
                for i, c in enumerate(_topk_correct(scores, _labels_numpy(labels), ks)):
                    correct[i] += c
                total += x.shape[0]
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    metrics = {f"top{k}": c / total for k, c in zip(topk, correct)}
    if loss is not None:
        metrics["loss"] = loss_sum / total
    return metrics


# ----- callbacks ----------------------------------------------------------------------------------
class Callback:
    """Hooks into fit. ``on_epoch_end`` returns True to stop training."""

    def on_train_begin(self, run):
        pass

    def on_epoch_end(self, epoch, logs, run):
        return False

    def on_train_end(self, run):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class EarlyStopping(Callback):
    """Stops after ``patience`` epochs in a row without improvement of ``monitor`` (Keras' rule:
    better than the best by more than ``min_delta``); restores the best epoch's weights at the end."""

    def __init__(self, monitor="val_loss", patience=5, mode="auto", min_delta=0.0, restore_best_weights=True):
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.restore_best_weights = restore_best_weights
        self.best, self.best_epoch, self.wait, self.best_weights = None, None, 0, None
        self.stopped_epoch = None

    def _improved(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs, run):
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: metric {self.monitor!r} is not logged; have {sorted(logs)}")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.copy() for k, v in run.model.state_dict().items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, run):
        if self.restore_best_weights and self.best_weights is not None:
            run.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = state.get("best_weights")


class Checkpoint(Callback):
    """Saves model, optimizer, scheduler, history and random state to ``path`` every ``every`` epochs
    (atomically). ``fit(..., resume=path)`` continues from it."""

    def __init__(self, path, every=1):
        if every < 1:
            raise ValueError(f"Checkpoint: every must be >= 1, got {every}")
        self.path, self.every = os.fspath(path), every

    def on_train_begin(self, run):
        if _world()[0] != 0:
            return  # under DistributedDataParallel rank 0 alone writes, and cleans up
        # A missing folder fails now, not after the first epoch's work. A run killed mid-write leaves
        # its temporary file behind; this path's writer owns them.
        folder = require_folder(self.path, "Checkpoint")
        prefix = temporary_prefix(self.path)
        for name in os.listdir(folder):
            if name.startswith(prefix):
                os.unlink(os.path.join(folder, name))

    def on_epoch_end(self, epoch, logs, run):
        if (epoch + 1) % self.every == 0 and _world()[0] == 0:
            save_checkpoint(self.path, run, next_epoch=epoch + 1)
        return False


# ----- the loop -----------------------------------------------------------------------------------
def _world():
    """(rank, world size) of pycnn.distributed's default group; (0, 1) when there is none."""
    from . import distributed

    return distributed.get_rank(), distributed.get_world_size()


def _all_reduce(values, op):
    """``values`` (floats) reduced over the ranks of the default group; unchanged in a world of one.
    Under DistributedDataParallel every rank then logs the same metrics."""
    if _world()[1] == 1:
        return list(values)
    from . import distributed

    array = np.array(values, dtype=np.float64)
    distributed.all_reduce(array, op=op)
    return array.tolist()


class _Run:
    def __init__(self, model, optimizer, scheduler, callbacks, history):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.callbacks, self.history = callbacks, history


def _shows_bar(progress):
    """A progress bar for ``progress``: always for True, on a terminal for "auto" (tqdm writes to
    stderr; in a pipe or a log file its carriage-return updates are only noise)."""
    if progress == "auto":
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty())
    return progress is True


def _progress(loader, epoch, epochs, enabled):
    if not _shows_bar(enabled):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    total = len(loader) if hasattr(loader, "__len__") else None
    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True, dynamic_ncols=True)


def fit(model, train_loader, loss, optimizer, epochs, val_loader=None, scheduler=None, callbacks=(),
        device="cpu", progress="auto", resume=None):
    """Trains ``model`` for ``epochs`` epochs (counting those done before a resume) and returns the
    :class:`History` (train_loss, train_acc, val_loss, val_top1, val_top5, lr, seconds, images_per_s).

    ``loss(logits, labels)`` returns a scalar tensor. ``scheduler.step()`` runs once per epoch
    (``ReduceLROnPlateau`` gets the validation loss, or the training loss without a val_loader).
    A non-finite loss stops training with FloatingPointError naming the epoch and batch.
    progress: "auto" (a tqdm bar per epoch on a terminal, and a line of metrics per epoch), True (the
    bar even when stderr is not a terminal), "lines" (the metric lines only) or False (silent).
    """
    if not (isinstance(progress, bool) or (isinstance(progress, str) and progress in ("auto", "lines"))):
        raise ValueError(f"fit: progress must be True, False, 'auto' or 'lines', got {progress!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative int, got {epochs!r}")
    callbacks = list(callbacks)
    history = History()
    run = _Run(model, optimizer, scheduler, callbacks, history)
    start = 0
    if resume is not None:
        state = load_checkpoint(resume)
        if len(state["callbacks"]) != len(callbacks):
            raise ValueError(f"fit: the checkpoint {os.fspath(resume)!r} holds the state of {len(state['callbacks'])} "
                             f"callbacks, this run has {len(callbacks)}; resume with the same callbacks")
        restore_run(run, state, resume)
        history.records = list(state["history"])
        set_random_states(state["random"])
        start = state["next_epoch"]
    for loader in (train_loader, val_loader):
        if loader is not None and hasattr(loader, "set_epoch"):
            loader.set_epoch(start)
    for cb in callbacks:
        cb.on_train_begin(run)
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if _world()[0] != 0:  # under DDP rank 0 alone shows progress ("auto" must stay "auto" there)
        progress = False
    for epoch in range(start, epochs):
        model.train()
        began = time.perf_counter()
        seen, correct, loss_sum = 0, 0, 0.0
        bar = _progress(train_loader, epoch, epochs, progress)
        for step, (images, labels) in enumerate(train_loader):
            x, y = _as_tensor(images, device), _as_tensor(labels, device)
            optimizer.zero_grad()
            out = model(x)
            logits = out[0] if isinstance(out, tuple) else out
            value = loss(logits, y)
            loss_value = float(value.item())
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"fit: the loss became {loss_value} at epoch {epoch + 1}, batch "
                                         f"{step + 1} (learning rate too high? NaN in the data?)")
            value.backward()
            optimizer.step()
            n = x.shape[0]
            seen += n
            loss_sum += loss_value * n
            correct += _topk_correct(logits.numpy(), _labels_numpy(labels), [1])[0]
            if bar is not None:
                elapsed = time.perf_counter() - began
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                img_s=f"{seen / max(elapsed, 1e-9):.0f}")
                bar.update(1)
        if bar is not None:
            bar.close()
        if seen == 0:
            raise ValueError("fit: the training loader yielded no batches")
        seconds = time.perf_counter() - began
        seen, correct, loss_sum = _all_reduce([seen, correct, loss_sum], "sum")
        seconds = _all_reduce([seconds], "max")[0]
        logs = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                "lr": float(optimizer.param_groups[0]["lr"]), "seconds": seconds, "images_per_s": seen / seconds}
        if val_loader is not None:
            metrics = evaluate(model, val_loader, topk=(1, 5), loss=loss, device=device)
            # Each rank's mean over its shard; DistributedSampler's shards are equal in size.
            metrics = dict(zip(metrics, _all_reduce(list(metrics.values()), "avg")))
            logs.update({"val_loss": metrics["loss"], "val_top1": metrics["top1"], "val_top5": metrics["top5"]})
        if scheduler is not None:
            if plateau:
                scheduler.step(logs.get("val_loss", logs["train_loss"]))
            else:
                scheduler.step()
        history.append(logs)
        if progress is not False:
            shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
            print(shown, flush=True)
        stop = False
        for cb in callbacks:
            stop = bool(cb.on_epoch_end(epoch, logs, run)) or stop
        if stop:
            break
    for cb in callbacks:
        cb.on_train_end(run)
    return history

