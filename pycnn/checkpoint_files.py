"""Training checkpoints: the state of a run written to one .npz file and read back.

A checkpoint holds the model's, the optimizer's and the scheduler's state, the epoch the run resumes
at, the history, each callback's state and pycnn's random generators: numpy arrays plus one JSON
record ('__meta__'; never pickle). It is written to a temporary file in the same folder, flushed to
disk and renamed over the old one (pycnn.files.write_npz), so a run killed mid-write leaves the
previous checkpoint intact. pycnn.train's Checkpoint callback writes them and ``fit(resume=path)``
restores one.
"""
import json
import math
import os

import numpy as np

from .files import read_npz, write_npz
from .nn import init
from .nn.functional.dropout import generator as dropout_generator
from .tensor import Tensor

# The layout of the '__meta__' record; the archive's format version (pycnn.files) covers the rest.
CHECKPOINT_FORMAT = "pycnn-checkpoint-1"
_CHECKPOINT_KEYS = ("next_epoch", "model", "optimizer", "scheduler", "history", "callbacks", "random")


def _pack(obj, arrays, prefix):
    """JSON-able structure of ``obj`` with numpy arrays moved into ``arrays`` under unique keys."""
    if isinstance(obj, Tensor):
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        key = f"{prefix}#{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: _pack(v, arrays, prefix) for k, v in obj.items()}}
        return {"__items__": [[_pack(k, arrays, prefix), _pack(v, arrays, prefix)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_pack(v, arrays, prefix) for v in obj], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, float) and not math.isfinite(obj):
            return {"__float__": repr(obj)}
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__}")


def _unpack(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__dict__" in obj:
            return {k: _unpack(v, arrays) for k, v in obj["__dict__"].items()}
        if "__items__" in obj:
            return {_unpack(k, arrays): _unpack(v, arrays) for k, v in obj["__items__"]}
        if "__list__" in obj:
            items = [_unpack(v, arrays) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
        if "__float__" in obj:
            return float(obj["__float__"])
    return obj


def _generators():
    """pycnn's global generators by name: dropout's seeds (saved under the name "functional", where
    they lived before nn.functional became a package) and parameter initialisation
    (nn.init._generator). Looked up on each call: manual_seed replaces them."""
    return {"functional": dropout_generator(), "init": init._generator}


def _random_states():
    return {name: rng.bit_generator.state for name, rng in _generators().items()}


def set_random_states(states):
    """Puts pycnn's global generators back to a checkpoint's ``random`` states (by name; a name the
    checkpoint lacks keeps its generator as it is)."""
    for name, rng in _generators().items():
        if name in states:
            rng.bit_generator.state = states[name]


def save_checkpoint(path, run, next_epoch):
    """Writes ``run``'s state (see pycnn.train.Checkpoint) to ``path`` atomically."""
    arrays = {}
    meta = {
        "format": CHECKPOINT_FORMAT,
        "next_epoch": next_epoch,
        "model": _pack(run.model.state_dict(), arrays, "model"),
        "optimizer": _pack(run.optimizer.state_dict(), arrays, "optimizer"),
        "scheduler": _pack(run.scheduler.state_dict() if run.scheduler is not None else None, arrays, "scheduler"),
        "history": run.history.records,
        "callbacks": [_pack(cb.state_dict(), arrays, f"callback{i}") for i, cb in enumerate(run.callbacks)],
        "random": _random_states(),
    }
    arrays["__meta__"] = np.array(json.dumps(meta))
    write_npz(path, arrays, "checkpoint", "save_checkpoint")


def load_checkpoint(path):
    """The saved state as a dict: ``model`` (a state_dict), ``optimizer``, ``scheduler``, ``history``,
    ``next_epoch``, ``callbacks``, ``random``. Every array is read and every reference checked before it
    returns: a missing file raises FileNotFoundError; a damaged or truncated one, one of a newer format
    version, or one that is not a checkpoint raises ValueError naming the file."""
    path = os.fspath(path)
    arrays = read_npz(path, "checkpoint", "load_checkpoint")
    expected = f"expected {CHECKPOINT_FORMAT!r}"
    meta = arrays.pop("__meta__", None)
    try:
        meta = json.loads(str(meta)) if meta is not None and meta.dtype.kind == "U" and meta.ndim == 0 else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"load_checkpoint: {path!r} is not a readable pycnn checkpoint: it has no "
                         f"'__meta__' record; {expected}")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_checkpoint: {path!r} has format {meta.get('format')!r}, {expected}")
    missing = [k for k in _CHECKPOINT_KEYS if k not in meta]
    if missing:
        raise ValueError(f"load_checkpoint: {path!r} lacks {missing} in its '__meta__' record: {expected}")
    try:
        state = {k: _unpack(v, arrays) for k, v in meta.items()}
        state["callbacks"] = [_unpack(c, arrays) for c in meta["callbacks"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"load_checkpoint: {path!r} is inconsistent ({type(error).__name__}: {error}): "
                         f"{expected}") from None
    return state


def restore_run(run, state, path):
    """Loads a checkpoint's state (load_checkpoint's dict) into the run's model, optimizer, scheduler and
    callbacks, all or nothing: when one refuses its part, those already loaded get their previous state
    back."""
    parts = [(run.model, state["model"]), (run.optimizer, state["optimizer"])]
    if run.scheduler is not None and state["scheduler"] is not None:
        parts.append((run.scheduler, state["scheduler"]))
    parts += list(zip(run.callbacks, state["callbacks"]))
    before = [owner.state_dict() for owner, _ in parts]
    for i, (owner, saved) in enumerate(parts):
        try:
            owner.load_state_dict(saved)
        except Exception as error:
            for (done, _), previous in zip(parts[:i], before):
                done.load_state_dict(previous)
            raise ValueError(f"fit: the checkpoint {os.fspath(path)!r} does not fit this run's "
                             f"{type(owner).__name__} ({error}); nothing was loaded") from error
    return state
