"""`python tools/bench.py contention`: pycnn and PyTorch idle and next to one busy process (see
bench.py's docstring). Kept apart from bench.py so that each file reads in one sitting; bench.py's
command line drives it, and its workers run as bench.py processes (bench_common.time_in_process)."""
import os
import subprocess
import sys

import numpy as np

from bench_common import median_time, table_header, time_in_process, torch_model


def contention_worker(args):
    """One library, one task, in this process; prints seconds (train: the epoch; infer: the median call)."""
    lib, task = args.contention_worker
    threads = len(os.sched_getaffinity(0))
    rng = np.random.default_rng(0)
    if task == "train":
        x = rng.random((4000, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 4000)
        batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 4000, 32)]
    else:
        x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = torch_model("lenet5" if task == "train" else "resnet20", 10)
        if task == "train":
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

            def run():
                for bx, by in batches:
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(model(torch.from_numpy(bx)), torch.from_numpy(by)).backward()
                    opt.step()
        else:
            model.eval()
            tx = torch.from_numpy(x)

            def run():
                with torch.no_grad():
                    model(tx)
    else:
        import pycnn
        import pycnn.models as zoo
        import pycnn.nn.functional as F

        pycnn.set_num_threads(threads)
        pycnn.manual_seed(0)
        if lib == "pycnn-deterministic":
            pycnn.use_deterministic_algorithms(True)
        if task == "train":
            model = zoo.lenet5(num_classes=10)
            opt = pycnn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

            def run():
                for bx, by in batches:
                    opt.zero_grad()
                    F.cross_entropy(model(pycnn.from_numpy(bx)), pycnn.from_numpy(by)).backward()
                    opt.step()
        else:
            plan = pycnn.optimize_for_inference(zoo.resnet20(num_classes=10).eval(), x)

            def run():
                plan(x)
    if task == "train":
        run()  # warm-up epoch
        print(median_time(run, max(1, args.repeat // 3)))
    else:
        print(median_time(run, 20 * args.repeat))


def _busy(cpu):
    """A process that spins on ``cpu`` (None: anywhere) until killed."""
    code = "import os, sys\n" + (f"os.sched_setaffinity(0, {{{cpu}}})\n" if cpu is not None else "") + \
        "while True:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def run_contention(args):
    cpus = sorted(int(c) for c in args.cpus.split(",")) if args.cpus else sorted(os.sched_getaffinity(0))
    # (library, environment, label): pycnn's default (libgomp's spin and the thread governor), the
    # governor turned off, and what pycnn did before the governor (GOMP_SPINCOUNT=10000, no governor).
    off = {"PYCNN_THREAD_GOVERNOR": "0"}
    rows = [("torch", {}, "torch's default"), ("pycnn", {}, "pycnn's default"), ("pycnn", off, "governor off"),
            ("pycnn", dict(off, GOMP_SPINCOUNT="10000"), "spin 10000, gov off")]
    rows += [("pycnn", {"GOMP_SPINCOUNT": count}, f"GOMP_SPINCOUNT={count}")
             for count in args.spincounts.split(",") if count]
    rows.append(("pycnn-deterministic", {}, "pycnn's default"))
    print(f"contention: {len(cpus)} CPUs {cpus} (threads = CPUs), busy process pinned to CPU {cpus[-1]}; "
          f"train: seconds per epoch (median of {max(1, args.repeat // 3)}), infer: ms per call (median of "
          f"{20 * args.repeat}); load before: {os.getloadavg()[0]:.2f}")
    header = f"{'library':<22}{'wait policy':<22}{'task':<7}{'idle':>10}{'contended':>11}{'ratio':>7}"
    table_header(header)
    for lib, extra, policy in rows:
        env = dict(os.environ)
        for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "PYCNN_THREAD_GOVERNOR"):
            env.pop(key, None)
        env.update(extra)
        for task in ("train", "infer"):
            times = []
            for contended in (False, True):
                busy = _busy(cpus[-1]) if contended else None
                try:
                    times.append(time_in_process(["contention", "--repeat", str(args.repeat), "--contention-worker",
                                                  lib, task], f"{lib} {task}", env=env,
                                                 preexec_fn=lambda: os.sched_setaffinity(0, cpus)))
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
            scale, unit = (1, "s") if task == "train" else (1e3, "ms")
            print(f"{lib:<22}{policy:<22}{task:<7}{times[0] * scale:9.3f}{unit:<1}{times[1] * scale:10.3f}{unit:<1}"
                  f"{times[1] / times[0]:7.2f}")
