"""What tools/bench.py and tools/bench_contention.py both use: timing a function, a table's header,
running bench.py's workers in processes of their own, and the PyTorch reference models. Imports
neither pycnn nor torch at the top (see bench.py's docstring: each worker loads one library)."""
import os
import statistics
import subprocess
import sys
import tempfile
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(TOOLS, "bench.py")  # the script whose workers time_in_process and ServedWorker run


def table_header(header):
    print(header)
    print("-" * len(header))


def median_time(fn, repeat, sync=None):
    # pycnn and PyTorch each bring an OpenMP runtime whose idle threads spin for a while after a
    # parallel region (numpy's OpenBLAS too); a pause lets the other library's threads go to sleep before we warm up.
    time.sleep(0.3)
    for _ in range(2):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_in_process(argv, label, **popen):
    """Runs bench.py with ``argv`` in a fresh process (a worker that loads one library and prints a
    time on its last line) and returns that number; NaN if it fails, with the error's last line printed
    under ``label``. ``popen``: more subprocess.run arguments (env, preexec_fn)."""
    done = subprocess.run([sys.executable, BENCH, *argv], capture_output=True, text=True, **popen)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        print(f"  {label} failed: {done.stderr.strip().splitlines()[-1:]}")
        return float("nan")
    return float(lines[-1])


def report_times(fn, repeat, serve, sync=None):
    """A worker's answer (the median milliseconds of ``repeat`` runs of ``fn``, after median_time's pause
    and warm-up) on stdout: once, or with ``serve`` (a ServedWorker's process) 'ready' once set up and
    then one answer for each line read from stdin, until stdin closes. ``fn`` None: the answer is NaN
    (nothing to time: the library has no such model)."""
    def answer():
        return float("nan") if fn is None else median_time(fn, repeat, sync) * 1e3

    if not serve:
        print(answer())
        return
    print("ready", flush=True)
    for _ in sys.stdin:
        print(answer(), flush=True)


class ServedWorker:
    """bench.py with ``argv`` + --serve in a process of its own that stays up: turn() has it time its
    library once more and returns the milliseconds (NaN, and the error's last line printed under ``label``,
    once it has failed). Workers of several libraries kept up side by side can take many turns each, so
    every library is timed in the same minutes of a machine whose speed drifts, without a process
    start per turn."""

    def __init__(self, argv, label):
        self.label, self.failed = label, False
        self.errors = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, BENCH, *argv, "--serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.errors, text=True)
        if self.process.stdout.readline().strip() != "ready":
            self._fail()

    def _fail(self):
        if not self.failed:
            self.failed = True
            self.process.kill()
            self.process.wait()
            self.errors.seek(0)
            print(f"  {self.label} failed: {self.errors.read().strip().splitlines()[-1:]}")

    def turn(self):
        if self.failed:
            return float("nan")
        try:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            return float(self.process.stdout.readline())
        except (OSError, ValueError):  # the worker died: a broken pipe, or no number on its line
            self._fail()
            return float("nan")

    def close(self):
        if not self.failed:
            self.process.stdin.close()
            self.process.wait()
        self.errors.close()


def torch_model(name, classes):
    """PyTorch's ``name`` for ``classes``: tools/reference_models' models, else torchvision's classifier of
    that name (mobilenet_v2, efficientnet_b0, shufflenet_v2_x1_0, ...; random weights). ValueError for
    a name neither has."""
    import torch

    sys.path.insert(0, TOOLS)
    import reference_models

    if name in reference_models.MODELS:
        return reference_models.MODELS[name](num_classes=classes)
    for op in ("nms", "qnms"):  # torchvision's C ops are built for CUDA torch; its models need these two
        try:
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:
            pass
    import torchvision

    if name not in torchvision.models.list_models(torchvision.models):
        raise ValueError(f"bench: no model {name!r} in tools/reference_models.py or torchvision's classifiers")
    return torchvision.models.get_model(name, weights=None, num_classes=classes)
