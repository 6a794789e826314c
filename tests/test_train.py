"""pycnn.train: fit's history, evaluate's top-k, non-finite losses, EarlyStopping, schedulers,
atomic checkpoints, bitwise-exact resume, and a run SIGKILLed during checkpoint writes."""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import pycnn
from pycnn import data, nn, optim
from pycnn.optim import lr_scheduler
from pycnn.train import Callback, Checkpoint, EarlyStopping, History, evaluate, fit, load_checkpoint
from helpers.subprocess_env import subprocess_env

HERE = os.path.dirname(os.path.abspath(__file__))


# ----- a tiny task: 3 classes of 8x8 images, a bright bar in a class-dependent place ----------------
def make_arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.uniform(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for k in range(3):
        images[labels == k, 0, 1 + 2 * k: 3 + 2 * k, 1:7] += 0.7
    return images, labels.astype(np.int64)


def tiny_net(dropout=0.25):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(4 * 4 * 4, 3))


def make_setup(seed=0, n_train=96, batch_size=16, lr=0.05, t_max=4):
    """Model, loaders (shuffled, augmented), SGD with momentum and a cosine schedule, all seeded,
    built fresh. Imported by the subprocess of test_kill_during_checkpoint_writes."""
    pycnn.manual_seed(seed)
    model = tiny_net()
    x, y = make_arrays(n_train + 48, seed=100)
    augment = data.transforms.RandomCrop(8, padding=1)
    train_loader = data.DataLoader(data.ArrayDataset(x[:n_train], y[:n_train]), batch_size=batch_size,
                                   shuffle=True, seed=seed, transform=augment)
    val_loader = data.DataLoader(data.ArrayDataset(x[n_train:], y[n_train:]), batch_size=32)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max)
    return model, train_loader, val_loader, optimizer, scheduler


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)), f"{k} differs"


# ----- fit and evaluate ----------------------------------------------------------------------------
def test_fit_history_keys_and_values():
    model, train_loader, val_loader, optimizer, scheduler = make_setup()
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 3, val_loader=val_loader,
                  scheduler=scheduler, progress=False)
    assert isinstance(history, History) and len(history) == 3
    assert set(history.keys()) == {"epoch", "train_loss", "train_acc", "lr", "seconds", "images_per_s",
                                   "val_loss", "val_top1", "val_top5"}
    assert history["epoch"] == [1, 2, 3]
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert all(0 <= a <= 1 for a in history["train_acc"] + history["val_top1"])
    assert history["val_top5"] == [1.0, 1.0, 1.0]  # 3 classes: the label is always among the top 5
    # the last epoch's validation numbers are what evaluate says about the final weights
    metrics = evaluate(model, val_loader, loss=nn.CrossEntropyLoss())
    assert metrics["top1"] == history["val_top1"][-1]
    assert metrics["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    assert history["val_top1"][-1] >= 0.9  # the bars are easy to tell apart
    assert history["images_per_s"][0] == pytest.approx(96 / history["seconds"][0])
    assert model.training  # fit leaves the model in training mode


def test_fit_without_val_loader_and_accepts_tensors():
    model = tiny_net(0.0)
    x, y = make_arrays(32)
    batches = [(pycnn.from_numpy(x[i:i + 16]), pycnn.from_numpy(y[i:i + 16])) for i in (0, 16)]
    history = fit(model, batches, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), 2,
                  progress=False)
    assert set(history.keys()) == {"epoch", "train_loss", "train_acc", "lr", "seconds", "images_per_s"}
    # train_acc counts the batch's predictions before its step
    assert all(a * 32 == round(a * 32) for a in history["train_acc"])


def test_evaluate_top1_top5_hand_made():
    # The model is the identity on (N, 6, 1, 1) "images", so the images are the logits.
    logits = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0],   # label 5: rank 1
                       [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],   # label 1: rank 2
                       [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],   # label 0: rank 6 (out of top 5)
                       [3.0, 2.0, 9.0, 1.0, 0.0, -1.0],  # label 4: rank 5
                       [1.0, 7.0, 2.0, 3.0, 4.0, 5.0]],  # label 1: rank 1
                      dtype=np.float32)
    labels = np.array([5, 1, 0, 4, 1])
    loader = [(logits[:3, :, None, None], labels[:3]), (logits[3:, :, None, None], labels[3:])]
    model = nn.Flatten()
    model.train()
    metrics = evaluate(model, loader, topk=(1, 2, 5), loss=nn.CrossEntropyLoss())
    assert metrics["top1"] == pytest.approx(2 / 5)
    assert metrics["top2"] == pytest.approx(3 / 5)
    assert metrics["top5"] == pytest.approx(4 / 5)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert metrics["loss"] == pytest.approx(-log_softmax[np.arange(5), labels].mean(), rel=1e-6)
    assert model.training  # restored
    # top-k larger than the number of classes counts every row
    assert evaluate(model, loader, topk=(10,))["top10"] == 1.0


def test_evaluate_bad_topk():
    for topk in ((), (0,), (1.5,), (True,)):
        with pytest.raises(ValueError, match="evaluate: topk must be positive ints"):
            evaluate(tiny_net(), [], topk=topk)


def test_evaluate_empty_loader():
    with pytest.raises(ValueError, match="evaluate: the loader yielded no batches"):
        evaluate(tiny_net(), [])


def test_nan_input_raises_naming_epoch_and_batch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))  # no ReLU: see the report on relu(nan)
    x, y = make_arrays(64)
    x[40, 0, 3, 3] = np.nan  # in batch 3 (of 16 images each)
    loader = data.DataLoader(data.ArrayDataset(x, y), batch_size=16)
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 3"):
        fit(model, loader, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), 2, progress=False)


def test_huge_learning_rate_raises():
    pycnn.manual_seed(0)
    model = tiny_net(0.0)
    x, y = make_arrays(64)
    loader = data.DataLoader(data.ArrayDataset(x, y), batch_size=16)
    optimizer = optim.SGD(model.parameters(), lr=1e10, momentum=0.9, weight_decay=5e-4)
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at epoch \d+, batch \d+ \(learning rate"):
        fit(model, loader, nn.CrossEntropyLoss(), optimizer, 5, progress=False)


def test_fit_rejects_bad_epochs():
    model, train_loader, _, optimizer, _ = make_setup()
    for epochs in (-1, 2.0, True):
        with pytest.raises(ValueError, match="fit: epochs must be a non-negative int"):
            fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, epochs, progress=False)


# ----- callbacks and schedulers --------------------------------------------------------------------
class Inject(Callback):
    """Puts a scripted metric into the logs and records the weights after every epoch."""

    def __init__(self, values):
        self.values, self.snapshots = values, []

    def on_epoch_end(self, epoch, logs, run):
        logs["score"] = self.values[epoch]
        self.snapshots.append(weights(run.model))


def test_early_stopping_stops_after_patience_and_restores_best():
    model, train_loader, val_loader, optimizer, _ = make_setup()
    inject = Inject([5.0, 3.0, 4.0, 2.5, 2.5, 2.6, 1.0, 0.5])  # best at epoch index 3
    stopper = EarlyStopping(monitor="score", patience=2, mode="min")
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 8, val_loader=val_loader,
                  callbacks=[inject, stopper], progress=False)
    # epochs 4 and 5 do not improve (2.5 is not < 2.5): stop after the 2nd of them
    assert len(history) == 6 and stopper.stopped_epoch == 5
    assert stopper.best == 2.5 and stopper.best_epoch == 3
    assert_bitwise_equal(weights(model), inject.snapshots[3])
    assert not np.array_equal(inject.snapshots[3]["5.weight"], inject.snapshots[5]["5.weight"])


def test_early_stopping_max_mode_and_no_restore():
    model, train_loader, _, optimizer, _ = make_setup()
    inject = Inject([0.1, 0.2, 0.2, 0.1, 0.9])
    stopper = EarlyStopping(monitor="score", patience=1, mode="max", restore_best_weights=False)
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 5, callbacks=[inject, stopper],
                  progress=False)
    assert len(history) == 3 and stopper.best_epoch == 1
    assert_bitwise_equal(weights(model), inject.snapshots[2])


def test_early_stopping_arguments():
    assert EarlyStopping("val_top1").mode == "max" and EarlyStopping("val_loss").mode == "min"
    with pytest.raises(ValueError, match="EarlyStopping: mode"):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="EarlyStopping: patience must be >= 0"):
        EarlyStopping(patience=-1)
    model, train_loader, _, optimizer, _ = make_setup()
    with pytest.raises(KeyError, match="'val_loss' is not logged"):
        fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 1, callbacks=[EarlyStopping()],
            progress=False)


def test_step_lr_sequence_in_history():
    model, train_loader, _, _, _ = make_setup()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 5, scheduler=scheduler, progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025], rel=1e-12)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)  # set for a 6th epoch


class RecordingPlateau(lr_scheduler.ReduceLROnPlateau):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def step(self, metrics):
        self.seen.append(metrics)
        super().step(metrics)


def test_reduce_lr_on_plateau_gets_the_validation_loss():
    model, train_loader, val_loader, _, _ = make_setup()
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    # a relative threshold of 10 means no loss ever counts as an improvement: halve after every epoch
    scheduler = RecordingPlateau(optimizer, patience=0, factor=0.5, threshold=10.0)
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 3, val_loader=val_loader,
                  scheduler=scheduler, progress=False)
    assert scheduler.seen == history["val_loss"]
    assert history["lr"] == pytest.approx([0.05, 0.025, 0.0125])
    # without a validation loader it gets the training loss
    scheduler = RecordingPlateau(optimizer)
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 2, scheduler=scheduler, progress=False)
    assert scheduler.seen == history["train_loss"]


def test_history_csv_json(tmp_path):
    history = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25, "val_loss": 0.3}])
    history.save_json(tmp_path / "h.json")
    history.save_csv(tmp_path / "h.csv")
    assert json.loads((tmp_path / "h.json").read_text()) == history.records
    assert (tmp_path / "h.csv").read_text().splitlines() == ["epoch,train_loss,val_loss", "1,0.5,", "2,0.25,0.3"]
    assert history["val_loss"] == [None, 0.3]
    assert sorted(os.listdir(tmp_path)) == ["h.csv", "h.json"]


# ----- checkpoints ---------------------------------------------------------------------------------
def test_checkpoint_round_trip_and_no_temp_files(tmp_path):
    path = tmp_path / "ckpt" / "run.npz"
    model, train_loader, val_loader, optimizer, scheduler = make_setup()
    with pytest.raises(FileNotFoundError, match="ckpt' does not exist"):  # as torch.save: no folder is made
        fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 2, callbacks=[Checkpoint(path)], progress=False)
    assert not path.parent.exists() and optimizer.state_dict()["state"] == {}  # refused before any step
    path.parent.mkdir()
    fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 2, val_loader=val_loader, scheduler=scheduler,
        callbacks=[Checkpoint(path)], progress=False)
    assert os.listdir(path.parent) == ["run.npz"]
    state = load_checkpoint(path)
    assert state["next_epoch"] == 2 and len(state["history"]) == 2
    assert_bitwise_equal(state["model"], weights(model))
    assert state["scheduler"]["last_epoch"] == 2
    saved_momentum = [v["momentum_buffer"] for v in state["optimizer"]["state"].values()]
    live_momentum = [v["momentum_buffer"] for v in optimizer.state_dict()["state"].values()]
    assert len(saved_momentum) == 4
    for a, b in zip(saved_momentum, live_momentum):
        assert np.array_equal(a, b)
    with np.load(path, allow_pickle=False) as f:  # plain arrays and one JSON string; no pickle
        assert all(f[k].dtype != object for k in f.files)


def test_failed_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    model, train_loader, _, optimizer, scheduler = make_setup()
    fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 1, scheduler=scheduler,
        callbacks=[Checkpoint(path)], progress=False)
    before = path.read_bytes()

    def broken_write_array(file, array, **kwargs):
        file.write(b"\x93NUMPY half an array")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np.lib.format, "write_array", broken_write_array)
    with pytest.raises(OSError, match="disk full"):
        fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 3, scheduler=scheduler, resume=path,
            callbacks=[Checkpoint(path)], progress=False)
    assert os.listdir(tmp_path) == ["run.npz"]
    assert path.read_bytes() == before
    assert load_checkpoint(path)["next_epoch"] == 1


def test_checkpoint_every():
    with pytest.raises(ValueError, match="Checkpoint: every must be >= 1"):
        Checkpoint("x.npz", every=0)


def run_resumed(tmp_path, split_at, total):
    path = tmp_path / f"resume-{split_at}.npz"
    model, train_loader, val_loader, optimizer, scheduler = make_setup()
    fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, split_at, val_loader=val_loader,
        scheduler=scheduler, callbacks=[Checkpoint(path)], progress=False)
    model, train_loader, val_loader, optimizer, scheduler = make_setup()  # fresh objects, as a new process
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, total, val_loader=val_loader,
                  scheduler=scheduler, callbacks=[Checkpoint(path)], progress=False, resume=path)
    return model, history


def test_resume_is_bitwise_identical(tmp_path):
    model, train_loader, val_loader, optimizer, scheduler = make_setup()
    straight = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 4, val_loader=val_loader,
                   scheduler=scheduler, progress=False)
    expected = weights(model)
    resumed_model, resumed = run_resumed(tmp_path, 2, 4)
    assert_bitwise_equal(weights(resumed_model), expected)
    for key in ("epoch", "train_loss", "train_acc", "lr", "val_loss", "val_top1"):
        assert resumed[key] == straight[key], key
    # the randomness matters: another seed gives other weights
    pycnn.manual_seed(1)
    other = make_setup(seed=1)
    fit(*other[:2], nn.CrossEntropyLoss(), other[3], 4, scheduler=other[4], progress=False)
    assert not np.array_equal(weights(other[0])["0.weight"], expected["0.weight"])


def test_resume_restores_early_stopping(tmp_path):
    path = tmp_path / "es.npz"
    values = [5.0, 3.0, 4.0, 4.0, 1.0]
    model, train_loader, _, optimizer, _ = make_setup()
    stopper = EarlyStopping(monitor="score", patience=2, mode="min")
    fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 3, callbacks=[Inject(values), stopper,
                                                                                Checkpoint(path)], progress=False)
    assert stopper.wait == 1
    model, train_loader, _, optimizer, _ = make_setup()
    stopper = EarlyStopping(monitor="score", patience=2, mode="min")
    history = fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 5,
                  callbacks=[Inject(values), stopper, Checkpoint(path)], progress=False, resume=path)
    assert len(history) == 4 and stopper.best_epoch == 1 and stopper.stopped_epoch == 3


def test_resume_with_other_callbacks_refused(tmp_path):
    path = tmp_path / "c.npz"
    model, train_loader, _, optimizer, _ = make_setup()
    fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 1, callbacks=[EarlyStopping("train_loss"),
                                                                             Checkpoint(path)], progress=False)
    before = weights(model)
    model.load_state_dict({k: v * 0 for k, v in before.items()})
    with pytest.raises(ValueError, match="holds the state of 2 callbacks, this run has 1; resume with the same"):
        fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 2, callbacks=[Checkpoint(path)], progress=False,
            resume=path)
    assert not np.any(weights(model)["0.weight"])  # refused before anything was loaded


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_checkpoint: no checkpoint at .*missing.npz"):
        load_checkpoint(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="junk.npz' is not a readable pycnn checkpoint"):
        load_checkpoint(junk)
    model, train_loader, _, optimizer, _ = make_setup()
    good = tmp_path / "good.npz"
    fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 1, callbacks=[Checkpoint(good)], progress=False)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.npz' is not a readable pycnn checkpoint"):
        load_checkpoint(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(3))
    with pytest.raises(ValueError, match="plain.npz' is not a readable pycnn checkpoint"):
        load_checkpoint(plain)
    other = tmp_path / "other.npz"
    np.savez(other, __meta__=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(ValueError, match="has format 'something-else', expected 'pycnn-checkpoint-1'"):
        load_checkpoint(other)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable pycnn checkpoint"):
        load_checkpoint(empty)


def test_save_checkpoint_refuses_objects_it_cannot_store(tmp_path):
    class Odd(Callback):
        def state_dict(self):
            return {"thing": object()}

    model, train_loader, _, optimizer, _ = make_setup()
    with pytest.raises(TypeError, match="checkpoint: cannot store a object"):
        fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, 1, callbacks=[Odd(), Checkpoint(tmp_path / "c.npz")],
            progress=False)
    assert os.listdir(tmp_path) == []


# ----- a run killed while it writes checkpoints ------------------------------------------------------
KILL_EPOCHS = 300
# One thread in the child and in the reference run: the same arithmetic either way, and two OpenMP
# threads on tiny tensors only slow down on a machine shared with other work.
KILL_SCRIPT = f"""
import sys
sys.path.insert(0, {HERE!r})
import numpy as np
import pycnn
from test_train import make_setup, KILL_EPOCHS
from pycnn import nn
from pycnn.train import Checkpoint, fit

pycnn.set_num_threads(1)

path, resume, out = sys.argv[1], sys.argv[2] == "resume", sys.argv[3]
model, train_loader, _, optimizer, scheduler = make_setup(n_train=32, batch_size=16, t_max=KILL_EPOCHS)
fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, KILL_EPOCHS, scheduler=scheduler,
    callbacks=[Checkpoint(path)], progress=False, resume=path if resume else None)
np.savez(out, **model.state_dict())
"""


def test_kill_during_checkpoint_writes(tmp_path):
    path, out = tmp_path / "run.npz", tmp_path / "final.npz"
    env = subprocess_env()
    chooser = random.Random(1234)
    last_epoch = 0
    for round_ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path), "resume" if round_ else "fresh",
                                 str(out)], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:  # wait until it writes checkpoints
            try:
                if load_checkpoint(path)["next_epoch"] > last_epoch + 2:
                    break
            except (FileNotFoundError, ValueError):
                pass  # not written yet (the file is never seen half-written: see below)
            time.sleep(0.01)
        time.sleep(chooser.uniform(0.0, 0.05))
        assert proc.poll() is None, f"the run ended before it was killed: {proc.stderr.read().decode()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)  # the previous checkpoint still loads
        assert state["next_epoch"] > last_epoch and len(state["history"]) == state["next_epoch"]
        last_epoch = state["next_epoch"]
        for name in os.listdir(tmp_path):  # at most a half-written temporary file besides it
            assert name == "run.npz" or name.startswith(".tmp-run.npz-"), name
    assert last_epoch < KILL_EPOCHS
    finished = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(path), "resume", str(out)], env=env,
                              cwd=tmp_path, capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == ["final.npz", "run.npz"]  # stale temporary files removed

    threads = pycnn.get_num_threads()
    pycnn.set_num_threads(1)
    try:
        model, train_loader, _, optimizer, scheduler = make_setup(n_train=32, batch_size=16, t_max=KILL_EPOCHS)
        fit(model, train_loader, nn.CrossEntropyLoss(), optimizer, KILL_EPOCHS, scheduler=scheduler, progress=False)
    finally:
        pycnn.set_num_threads(threads)
    with np.load(out) as f:
        assert_bitwise_equal({k: f[k] for k in f.files}, weights(model))
    assert math.isfinite(float(np.abs(weights(model)["5.weight"]).sum()))


@pytest.mark.parametrize("name, size, channels, batch", [("lenet5", 28, 1, 32), ("resnet20", 16, 3, 8)])
def test_training_steps_reuse_their_memory(name, size, channels, batch):
    # Issue 11: no allocation in the steady state. Blocks of 64 KiB and more (activations, gradients,
    # the convolutions' packed weights and per-thread sums) come from the CPU allocator's cache once
    # the first steps have sized it; a step that took new ones from the system shows here.
    from pycnn import _C
    pycnn.manual_seed(0)
    model = getattr(pycnn.models, name)(num_classes=10)
    opt = pycnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)

    def step():
        x = pycnn.tensor(rng.standard_normal((batch, channels, size, size)).astype(np.float32))
        y = pycnn.tensor(rng.integers(0, 10, batch))
        opt.zero_grad()
        pycnn.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(4):
        step()
    before = _C.cpu_allocator_stats()
    for _ in range(4):
        step()
    after = _C.cpu_allocator_stats()
    assert after["system_allocations"] == before["system_allocations"], (before, after)
    assert after["cache_hits"] > before["cache_hits"]
