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

    # --epochs 1 became the cosine schedule's length: resuming it with another count is refused
    code, _, err = run(capsys, "train", "--data", "digits", "--epochs", 2, "--out", out, "--quiet", "--resume")
    assert_one_line_error(code, err, r"--resume: .*checkpoint.npz belongs to a run of --epochs 1, got --epochs 2")

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
