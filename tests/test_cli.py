"""The pycnn command: train / eval / summary, their files and output, and one-line errors."""
import json
import re
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import pycnn
from pycnn import cli
from pycnn.train import Checkpoint, load_checkpoint, save_checkpoint
from helpers.subprocess_env import subprocess_env

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pycnn: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]


def test_train_resume_eval(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--model", "lenet5", "--data", "digits", "--epochs", 1, "--out", out,
                          "--quiet", "--seed", 3)
    assert code == 0
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "curves.png", "filters.png", "history.csv",
                                       "history.json", "model.npz"]
    for png in ("curves.png", "filters.png"):
        assert (out / png).read_bytes()[:8] == PNG_SIGNATURE
    line = stdout.strip().splitlines()[-1]
    assert line.startswith("test top-1 ") and "(360 images)" in line  # 20% of scikit-learn's 1,797 digits
    top1 = float(line.split()[2].rstrip("%"))
    assert top1 > 50  # one epoch of LeNet-5 on the digits is far above chance
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1 and history[0]["val_top1"] * 100 == pytest.approx(top1, abs=0.006)
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss,train_acc,lr")
    with np.load(out / "model.npz") as f:
        assert f["features.0.weight"].shape == (6, 1, 5, 5) and len(f.files) == 10


    code, stdout, _ = run(capsys, "eval", "--model", "lenet5", "--weights", out / "model.npz", "--data", "digits")
    assert code == 0
    assert stdout.strip() == (f"lenet5 on digits: top-1 {top1:.2f}%  top-5 "
                              f"{history[-1]['val_top5'] * 100:.2f}%  (360 images)")


def test_interrupted_run_resumes_exactly(tmp_path, capsys, monkeypatch):
    argv = ["train", "--data", "digits", "--epochs", 2, "--quiet", "--seed", 1, "--threads", 1]
    threads = pycnn.get_num_threads()
    try:
        assert run(capsys, *argv, "--out", tmp_path / "straight")[0] == 0
        assert pycnn.get_num_threads() == 1

        class Interrupted(Exception):
            pass

        def interrupt_after_saving(self, epoch, logs, run):
            save_checkpoint(self.path, run, next_epoch=epoch + 1)
            raise Interrupted  # as a Ctrl-C after the first epoch's checkpoint

        with monkeypatch.context() as patch:
            patch.setattr(Checkpoint, "on_epoch_end", interrupt_after_saving)
            with pytest.raises(Interrupted):
                cli.main([str(a) for a in argv + ["--out", tmp_path / "cut"]])
        assert load_checkpoint(tmp_path / "cut" / "checkpoint.npz")["next_epoch"] == 1
        code, stdout, _ = run(capsys, *argv, "--out", tmp_path / "cut", "--resume")
        assert code == 0
    finally:
        pycnn.set_num_threads(threads)
    assert [r["epoch"] for r in json.loads((tmp_path / "cut" / "history.json").read_text())] == [1, 2]
    with np.load(tmp_path / "straight" / "model.npz") as a, np.load(tmp_path / "cut" / "model.npz") as b:
        assert a.files == b.files
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key


def test_resume_without_checkpoint(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--data", "digits", "--epochs", 1, "--out", tmp_path, "--resume")
    assert_one_line_error(code, err, r"--resume: no checkpoint at .*checkpoint.npz")


def test_summary_lenet5(capsys):
    code, stdout, _ = run(capsys, "summary", "lenet5")
    assert code == 0
    assert "Total params: 61,706" in stdout and "Input shape: [1, 1, 28, 28]" in stdout
    assert "features.0    Conv2d     [1, 6, 28, 28]      156  117,600" in stdout
    code, stdout, _ = run(capsys, "summary", "lenet5", "--num-classes", 2)
    assert "Total params: 61,026" in stdout  # 84 * 8 + 8 fewer in the last layer


def write_idx(path, magic, shape, payload):
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{len(shape)}I", *shape) + payload)


@pytest.mark.parametrize("argv, pattern", [
    (["train", "--model", "lenet7", "--data", "digits"], r"--model: unknown model 'lenet7'; known: alexnet, .*lenet5"),
    (["summary", "lenet7"], r"unknown model 'lenet7'; known: .*resnet20"),
    (["train", "--data", "mnist"], r"--data: expected mnist-sample, digits, mnist:PATH, .* got 'mnist'"),
    (["train", "--data", "imagenet:/x"], r"--data: expected .* got 'imagenet:/x'"),
    (["train", "--data", "mnist:/nonexistent"], r"load_mnist: expected a folder at '/nonexistent', it does not exist"),
    (["train", "--batch-size", "0"], r"--batch-size must be at least 1, got 0"),
    (["train", "--epochs", "0"], r"--epochs must be at least 1, got 0"),
    (["train", "--lr", "-1"], r"--lr must be positive, got -1.0"),
    (["train", "--threads", "0"], r"--threads must be at least 1, got 0"),
    (["train", "--epochs", "ten"], r"argument --epochs: invalid int value: 'ten' \(see pycnn train --help\)"),
    (["train", "--bogus"], r"unrecognized arguments: --bogus"),
    (["eval", "--weights", "/nonexistent/model.npz"], r"--weights: no file at /nonexistent/model.npz"),
    (["finetune", "/nonexistent/model.onnx", "--data", "digits"], r"finetune: no file at /nonexistent/model.onnx"),
    (["summary", "lenet5", "--input-shape", "1,28"], r"--input-shape: expected C,H,W like 3,224,224, got '1,28'"),
    (["summary", "lenet5", "--input-shape", "3,28,28"],
     r"conv2d: weight of shape \(6, 1, 5, 5\) .* expects input with 1 channels"),
    (["summary", "lenet5", "--input-shape", "a,b,c"], r"--input-shape: expected C,H,W like 3,224,224, got 'a,b,c'"),
])
def test_errors_are_one_line(capsys, tmp_path, argv, pattern):
    if argv[0] == "train":
        argv = argv + ["--out", str(tmp_path), "--quiet"]
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, pattern)


def test_data_errors_are_one_line(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "train", "--data", f"folder:{empty}", "--out", tmp_path / "o1")
    assert_one_line_error(code, err, r"load_image_folder: expected one subfolder per class in .*found no subfolders")

    mnist = tmp_path / "mnist"
    mnist.mkdir()
    write_idx(mnist / "train-images-idx3-ubyte", 2051, (10, 28, 28), bytes(28 * 28 * 7))  # 3 images short
    write_idx(mnist / "train-labels-idx1-ubyte", 2049, (10,), bytes(10))
    code, _, err = run(capsys, "train", "--data", f"mnist:{mnist}", "--out", tmp_path / "o2")
    assert_one_line_error(code, err, r"train-images-idx3-ubyte: IDX header says shape \(10, 28, 28\) of uint8, "
                                     r"so expected 7856 bytes, but the file has 5504 bytes")

    write_idx(mnist / "train-images-idx3-ubyte", 2051, (10, 28, 28), bytes(28 * 28 * 10))
    write_idx(mnist / "train-labels-idx1-ubyte", 2049, (10,), bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 12]))
    code, _, err = run(capsys, "train", "--data", f"mnist:{mnist}", "--out", tmp_path / "o3")
    assert_one_line_error(code, err, r"labels must lie in \[0, 10\), got values from 0 to 12")

    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    code, _, err = run(capsys, "eval", "--weights", junk, "--data", "digits")
    assert_one_line_error(code, err, r"--weights: .*junk.npz is not a weights file written by pycnn train")


def test_command_line_exit_status(tmp_path):
    env = subprocess_env()
    bad = subprocess.run([sys.executable, "-m", "pycnn.cli", "train", "--batch-size", "0", "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "pycnn: error: --batch-size must be at least 1, got 0\n"
    good = subprocess.run([sys.executable, "-m", "pycnn.cli", "summary", "lenet5"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert good.returncode == 0 and "Total params: 61,706" in good.stdout


# ----- the newcomer's path (issue 17) --------------------------------------------------------------
def test_help_shows_every_default_and_the_choices(capsys):
    assert run(capsys, "--version") == (0, f"pycnn {pycnn.__version__}\n", "")
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for shown in ("--epochs EPOCHS passes over the training images (default: 10)", "(default: 0.05)",
                  "(default: 32)", "(default: mnist-sample)", "(default: lenet5)", "CosineAnnealingLR",
                  "folder:PATH", "cifar10:PATH", "--image-size SIZE", "--grayscale", "{sgd,adam,rmsprop}"):
        assert shown in flat, shown
    for name in ("alexnet", "lenet5", "resnet20", "vgg16_bn", "densenet121"):
        assert name in flat
    for command, sub in cli.parser()._subparsers._group_actions[0].choices.items():
        for action in sub._actions:
            assert action.help, f"pycnn {command} {action.option_strings or action.dest} has no description"
    code, out, _ = run(capsys, "summary", "--help")
    assert ".onnx" in out and "3,224,224" in out


def test_progress_bars_only_on_a_terminal(tmp_path):
    env = subprocess_env()
    argv = [sys.executable, "-m", "pycnn", "train", "--data", "digits", "--epochs", "2", "--threads", "1"]
    for extra in ([], ["--quiet"]):
        done = subprocess.run(argv + extra + ["--out", str(tmp_path / f"o{len(extra)}")], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "\r" not in done.stdout + done.stderr and done.stderr == ""
        epochs = [x for x in done.stdout.splitlines() if x.startswith("epoch ")]
        assert [x.split(",")[0] for x in epochs] == ["epoch 1", "epoch 2"]  # --quiet keeps the metric lines


def test_fit_shows_a_bar_on_a_terminal(monkeypatch, capsys):
    from pycnn import models, nn, optim, train

    class Terminal:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

        def isatty(self):
            return True

    rng = np.random.default_rng(0)
    loader = [(rng.random((4, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 4))] * 3
    model = models.lenet5(num_classes=10)
    for progress, bar in (("auto", True), ("lines", False), (False, False)):
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        train.fit(model, loader, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), 1, progress=progress)
        monkeypatch.undo()
        assert ("epoch 1/1" in terminal.text) == bar, (progress, terminal.text)
        assert (capsys.readouterr().out.startswith("epoch 1, train_loss")) == (progress is not False)
    with pytest.raises(ValueError, match="progress must be True, False, 'auto' or 'lines', got 'bars'"):
        train.fit(model, loader, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01), 1, progress="bars")


def _image_folder(root, size=(50, 40)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            pixels = (rng.random((size[0], size[1], 3)) * 100 + 150 * label).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_folder_image_size_and_grayscale(tmp_path, capsys):
    folder = _image_folder(tmp_path / "mixed")
    base = ["train", "--data", f"folder:{folder}", "--epochs", 1, "--quiet", "--no-augment", "--batch-size", 4]
    code, _, err = run(capsys, *base, "--out", tmp_path / "o1")
    assert_one_line_error(code, err, r"expects 1-channel images, the data has 3")
    code, _, err = run(capsys, *base, "--grayscale", "--out", tmp_path / "o2")
    assert_one_line_error(code, err, r"is 50x40|28")  # LeNet-5's 28x28 needs --image-size
    code, out, err = run(capsys, *base, "--grayscale", "--image-size", 28, "--out", tmp_path / "o3")
    assert code == 0, err
    assert "(9 train / 3 test images, 2 classes)" in out
    code, _, err = run(capsys, "train", "--model", "resnet20", "--data", f"folder:{folder}", "--image-size", "32,32",
                       "--epochs", 1, "--quiet", "--batch-size", 4, "--out", tmp_path / "o4")
    assert code == 0, err
    code, _, err = run(capsys, "train", "--data", "digits", "--grayscale", "--out", tmp_path / "o5")
    assert_one_line_error(code, err, r"--image-size and --grayscale apply to --data folder:PATH, got --data digits")
    code, _, err = run(capsys, *base, "--image-size", "28,x", "--out", tmp_path / "o6")
    assert_one_line_error(code, err, r"--image-size: expected SIZE or HEIGHT,WIDTH like 28 or 32,48, got '28,x'")


def test_resume_extends_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "digits", "--quiet", "--threads", 1, "--out", out]
    assert run(capsys, *argv, "--epochs", 1)[0] == 0
    code, stdout, err = run(capsys, *argv, "--epochs", 3, "--resume")
    assert code == 0, err
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    # the cosine schedule re-planned for 3 epochs from epoch 2 on: lr_e = 0.05 (1 + cos(pi e / 3)) / 2
    assert history[0]["lr"] == 0.05
    for e in (1, 2):
        assert history[e]["lr"] == pytest.approx(0.05 * (1 + np.cos(np.pi * e / 3)) / 2, rel=1e-12)
    assert load_checkpoint(out / "checkpoint.npz")["scheduler"]["T_max"] == 3
    code, _, err = run(capsys, *argv, "--epochs", 2, "--resume")
    assert_one_line_error(code, err, r"--resume: .*checkpoint.npz has already run 3 epochs, so --epochs must be more "
                                     r"than 3 to continue it, got --epochs 2")


def _trained_lenet(tmp_path, capsys):
    out = tmp_path / "lenet"
    assert run(capsys, "train", "--data", "digits", "--epochs", 1, "--quiet", "--threads", 1, "--out", out)[0] == 0
    return out / "model.npz"


def test_eval_and_summary_of_an_onnx_file(tmp_path, capsys):
    pytest.importorskip("onnx")
    from pycnn import models

    weights = _trained_lenet(tmp_path, capsys)
    model = models.lenet5(num_classes=10)
    model.load_state_dict(dict(np.load(weights)))
    path = str(tmp_path / "lenet.onnx")
    pycnn.onnx.export(model, path, (1, 1, 28, 28))
    code, npz_line, _ = run(capsys, "eval", "--weights", weights, "--data", "digits")
    assert code == 0
    code, onnx_line, err = run(capsys, "eval", "--weights", path, "--data", "digits")
    assert code == 0, err
    assert onnx_line.replace("lenet.onnx", "lenet5") == npz_line  # the same model, the same accuracy
    code, out, err = run(capsys, "summary", path)
    assert code == 0, err
    assert "Input shape: [1, 1, 28, 28]" in out and "Total params: 61,706" in out
    assert re.search(r"Conv\s+\[1, 6, 28, 28\]\s+156\s+117,600", out), out
    assert f"Total MACs: {pycnn.summary(model, (1, 28, 28)).total_macs:,}" in out
    code, _, err = run(capsys, "summary", tmp_path / "missing.onnx")
    assert_one_line_error(code, err, r"summary: no file at .*missing.onnx")


def test_closed_pipe_ends_quietly(tmp_path):
    """`pycnn summary alexnet | head -8`: the reader leaves before pycnn writes; exit 0, nothing on stderr."""
    for argv in (["summary", "alexnet"], ["--help"]):
        child = subprocess.Popen([sys.executable, "-m", "pycnn"] + argv, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=subprocess_env(), cwd=tmp_path)
        child.stdout.close()  # no reader: the first write fails with EPIPE
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) == 0 and err == "", err


def test_finetune_embeds_the_normalization(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from pycnn import models

    source = str(tmp_path / "pretrained.onnx")
    pycnn.manual_seed(0)
    pycnn.onnx.export(models.lenet5(num_classes=10), source, (1, 1, 28, 28))
    out = tmp_path / "ft"
    code, stdout, err = run(capsys, "finetune", source, "--data", "digits", "--epochs", 1, "--quiet",
                            "--strategy", "fine_tune", "--out", out)
    assert code == 0, err
    printed_top1 = re.search(r"test top-1 ([\d.]+)%", stdout).group(1)
    exported = onnx.load(str(out / "model.onnx"))
    assert [n.op_type for n in exported.graph.node[:2]] == ["Sub", "Div"]
    with np.load(out / "normalize.npz") as f:
        mean, std = f["mean"], f["std"]
    # onnxruntime on raw images == the same graph without its first two nodes on normalised images
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    raw = ort.InferenceSession(str(out / "model.onnx")).run(None, {exported.graph.input[0].name: x})[0]
    inner = exported.graph.node[1].output[0]
    stripped = onnx.load(str(out / "model.onnx"))
    nodes = list(stripped.graph.node)[2:]
    del stripped.graph.node[:]
    stripped.graph.node.extend(nodes)
    stripped.graph.input[0].name = inner
    manual = ort.InferenceSession(stripped.SerializeToString()).run(
        None, {inner: (x - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)})[0]
    np.testing.assert_allclose(raw, manual, rtol=1e-5, atol=1e-5)
    # pycnn eval knows the graph normalises itself: the accuracy finetune printed, not a doubly normalised one
    code, line, err = run(capsys, "eval", "--weights", out / "model.onnx", "--data", "digits")
    assert code == 0, err
    assert f"top-1 {printed_top1}%" in line

    code, _, err = run(capsys, "finetune", source, "--data", "digits", "--epochs", 1, "--quiet",
                       "--no-embed-normalization", "--out", tmp_path / "plain")
    assert code == 0, err
    assert [n.op_type for n in onnx.load(str(tmp_path / "plain" / "model.onnx")).graph.node[:1]] == ["Conv"]


def test_deterministic_runs_match_across_thread_counts(tmp_path, capsys):
    lines = []
    for threads in (1, 2):
        code, out, err = run(capsys, "train", "--data", "digits", "--epochs", 1, "--quiet", "--deterministic",
                             "--threads", threads, "--out", tmp_path / str(threads))
        assert code == 0, err
        lines.append([x.split(", seconds")[0] for x in out.splitlines() if x.startswith("epoch ")])
        with np.load(tmp_path / str(threads) / "model.npz") as f:
            lines[-1].append({k: f[k] for k in f.files})
    assert lines[0][0] == lines[1][0]
    assert all(np.array_equal(lines[0][1][k], lines[1][1][k]) for k in lines[0][1])
    assert pycnn.are_deterministic_algorithms_enabled()
    pycnn.use_deterministic_algorithms(False)
