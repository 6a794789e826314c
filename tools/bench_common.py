"""What tools/bench.py and tools/bench_contention.py both use: timing a function, a table's header,
running bench.py's workers in processes of their own, and the PyTorch reference models. Imports
neither pycnn nor torch at the top (see bench.py's docstring: each worker loads one library)."""
import os
import statistics
import subprocess
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(TOOLS, "bench.py")  # the script whose workers time_in_process runs


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


def torch_model(name, classes):
    """PyTorch's ``name`` (tools/reference_models, or torchvision's MobileNetV2) for ``classes``."""
    import torch

    if name == "mobilenet_v2":  # torchvision's C ops are built for CUDA torch; its models need these two
        for op in ("nms", "qnms"):
            try:
                torch.library.define(f"torchvision::{op}",
                                     "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            except RuntimeError:
                pass
        import torchvision

        return torchvision.models.mobilenet_v2(weights=None, num_classes=classes)
    sys.path.insert(0, TOOLS)
    import reference_models

    return reference_models.MODELS[name](num_classes=classes)
