"""tools/bench.py train on a tiny configuration: the table's rows parse, both libraries' times are positive,
and each library is measured in a process that never loads the other (issue 11). No timing assertions."""
import math
import os
import subprocess
import sys

from helpers.subprocess_env import subprocess_env
from helpers.torchvision_import import import_torchvision

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "bench.py")


def _bench(tmp_path, *argv):
    return subprocess.run([sys.executable, BENCH, *argv], cwd=tmp_path, capture_output=True, text=True,
                          env=subprocess_env(), timeout=300)


def test_train_table_rows_parse_with_positive_times(tmp_path):
    done = _bench(tmp_path, "train", "--models", "lenet5:8,resnet20:2:infer", "--repeat", "1", "--threads", "1",
                  "--rounds", "2", "--turns", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "each library in its own process, 2 rounds taking turns, 2 turns a round" in lines[0]
    assert lines[1].split() == ["model", "batch", "input", "pass", "pycnn", "ms", "torch", "ms", "ratio", "range"]
    assert set(lines[2]) == {"-"}
    rows = [line.split() for line in lines[3:]]
    assert [row[:4] for row in rows] == [["lenet5", "8", "28", "train"], ["resnet20", "2", "32", "infer"]], lines
    for row in rows:
        ours, theirs, ratio = (float(value) for value in row[4:7])
        assert all(math.isfinite(v) and v > 0 for v in (ours, theirs, ratio)), row
        low, high = (float(value) for value in row[7].split("-"))
        assert 0 < low <= ratio <= high, row  # the median of the turns' ratios lies within their range


def test_rounds_and_turns_must_be_positive(tmp_path):
    done = _bench(tmp_path, "train", "--rounds", "0")
    assert done.returncode == 2
    assert "--rounds must be at least 1, got 0" in done.stderr
    done = _bench(tmp_path, "infer", "--turns", "0")
    assert done.returncode == 2
    assert "--turns must be at least 1, got 0" in done.stderr


def test_a_served_worker_answers_once_a_line_and_reports_its_failure(tmp_path, capsys):
    """ServedWorker keeps one library's process up for several timings; a worker that dies is NaN from
    then on, with its error's last line printed, and the others go on."""
    sys.path.insert(0, os.path.dirname(BENCH))
    try:
        from bench_common import ServedWorker
    finally:
        sys.path.pop(0)
    worker = ServedWorker(["train", "--repeat", "1", "--threads", "1", "--worker", "pycnn", "lenet5", "4", "train"],
                          "pycnn")
    try:
        times = [worker.turn() for _ in range(3)]
    finally:
        worker.close()
    assert all(math.isfinite(t) and t > 0 for t in times), times
    missing = ServedWorker(["train", "--repeat", "1", "--worker", "pycnn", "no_such_model", "4", "train"], "missing")
    assert math.isnan(missing.turn()) and math.isnan(missing.turn())  # no such model in pycnn's zoo: NaN, quietly
    missing.close()
    assert capsys.readouterr().out == ""
    broken = ServedWorker(["train", "--repeat", "1", "--worker", "pycnn", "lenet5", "four", "train"], "broken")
    assert math.isnan(broken.turn()) and math.isnan(broken.turn())
    broken.close()
    assert "broken failed: [\"ValueError: invalid literal for int() with base 10: 'four'\"]" in capsys.readouterr().out


def test_train_rejects_an_unknown_pass(tmp_path):
    done = _bench(tmp_path, "train", "--models", "lenet5:8:eval")
    assert done.returncode == 1
    assert "bench: --models lenet5:8:eval: the pass after the batch is 'train' or 'infer', not 'eval'" in done.stderr


def test_train_workers_load_one_library_each(tmp_path):
    """pycnn and torch share the soname libgomp.so.1: whichever loads first sets the other's OpenMP wait
    policy (pycnn/_threads.py), so neither worker may import the other library."""
    probe = ("import runpy, sys; sys.argv = [{bench!r}, 'train', '--repeat', '1', '--threads', '1', '--worker', "
             "{lib!r}, 'lenet5', '4', 'train']; runpy.run_path({bench!r}, run_name='__main__'); "
             "print('torch' in sys.modules, 'pycnn' in sys.modules)")
    for lib, loaded in (("pycnn", "False True"), ("torch", "True False")):
        done = subprocess.run([sys.executable, "-c", probe.format(bench=BENCH, lib=lib)], cwd=tmp_path,
                              capture_output=True, text=True, env=subprocess_env(), timeout=300)
        assert done.returncode == 0, done.stderr
        milliseconds, imports = done.stdout.strip().splitlines()[-2:]
        assert float(milliseconds) > 0
        assert imports == loaded, (lib, imports)


def test_infer_takes_a_torchvision_classifier_by_name(tmp_path):
    """`bench.py infer --models squeezenet1_1:1`: a classifier that is not in tools/reference_models comes
    from torchvision (random weights); pycnn's zoo has no such Module, so the plan column is NaN and the
    session, PyTorch and onnxruntime columns are times. No timing assertions."""
    import_torchvision()  # a skip where the registry's torchvision is not installed
    done = _bench(tmp_path, "infer", "--models", "squeezenet1_1:1", "--repeat", "1", "--threads", "1",
                  "--rounds", "1", "--turns", "1")
    assert done.returncode == 0, done.stderr
    row = done.stdout.splitlines()[-1].split()
    assert row[:2] == ["squeezenet1_1", "1"], done.stdout
    plan, session, torch_ms, ort_ms = (float(v) for v in row[2:6])
    assert math.isnan(plan)
    assert all(math.isfinite(v) and v > 0 for v in (session, torch_ms, ort_ms)), row
    done = _bench(tmp_path, "infer", "--models", "nosuch:1", "--repeat", "1", "--rounds", "1", "--turns", "1")
    assert done.returncode != 0 and "no model 'nosuch'" in done.stderr
