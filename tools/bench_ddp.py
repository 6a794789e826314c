"""DistributedDataParallel on this machine: ResNet-20 training steps with 1 and 2 processes.

    python tools/bench_ddp.py [--batch 128] [--steps 10] [--nprocs 1,2] [--threads 1] [--rounds 3]

Each configuration runs under ``mpiexec -n P`` (processes of --threads threads each) on CIFAR-sized
random data: forward, cross-entropy, backward (gradients all-reduced by DistributedDataParallel as
they come), SGD momentum. Two batch rules: ``per process`` (each rank takes --batch images: weak
scaling, images/s should grow with P) and ``split`` (the ranks share --batch images: strong scaling).
``wait`` is the share of the step the main thread spent blocked on communication (gradient buckets
after backward, and the buffers' broadcast before forward: DistributedDataParallel's
communication_seconds): what overlapping did not hide. ``all-reduce`` is the share one blocking
all-reduce of all the gradients at once would take (measured after the steps): the cost without overlap.
The peer is the one-process run of the same rule, measured in the same run: speedup = images/s over
its images/s. The load average (uptime) is printed beside the numbers: other work on the machine
slows the ranks unevenly and the slowest rank sets the pace.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout  # noqa: E402  (tools/ is not a package)

use_checkout()  # the checkout's pycnn when it is built in place, else the installed one


def worker(batch, steps, threads):
    import pycnn
    import pycnn.distributed as dist
    from pycnn import models, nn
    from pycnn.nn.parallel import DistributedDataParallel

    pycnn.set_num_threads(threads)
    dist.init_process_group(timeout=600)
    pycnn.manual_seed(0)
    model = DistributedDataParallel(models.resnet20(num_classes=10))
    optimizer = pycnn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(dist.get_rank())
    x = pycnn.tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = pycnn.tensor(rng.integers(0, 10, batch))

    def step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    for _ in range(2):  # warm-up: buffers, the communication thread
        step()
    dist.barrier()
    waited = model.communication_seconds
    began = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - began
    # The same gradients all-reduced in one blocking call after backward, as without overlap.
    flat = np.zeros(sum(p.numel() for p in model.parameters()), dtype=np.float32)
    alone = []
    for _ in range(5):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        alone.append(time.perf_counter() - start)
    waits = np.array([model.communication_seconds - waited, seconds, float(np.median(alone))])
    dist.all_reduce(waits, op="max")  # the slowest rank's
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps({"seconds": float(waits[1]), "wait": float(waits[0]),
                                      "allreduce": float(waits[2]) * steps,
                                      "params": sum(p.numel() for p in model.parameters()),
                                      "buckets": len(model.bucket_names())}), flush=True)


def run(nprocs, batch, steps, threads):
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = mpiexec if os.path.exists(mpiexec) else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("bench_ddp: mpiexec not found; pip install pycnn[distributed]")
    command = [mpiexec, "-n", str(nprocs), sys.executable, os.path.abspath(__file__), "--worker",
               "--batch", str(batch), "--steps", str(steps), "--threads", str(threads)]
    proc = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"bench_ddp: {nprocs} processes failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[0][len("RESULT "):])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--nprocs", default="1,2")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.batch, args.steps, args.threads)
    counts = [int(n) for n in args.nprocs.split(",")]
    configs = [(rule, n, args.batch if rule == "per process" else args.batch // n)
               for rule in ("per process", "split") for n in counts]
    print(f"ResNet-20 training step, {args.threads} thread(s) a process, {args.steps} timed steps, median of "
          f"{args.rounds} interleaved rounds; load before: {os.getloadavg()[0]:.2f}", flush=True)
    runs = {config: [] for config in configs}
    for _ in range(args.rounds):  # interleaved, so a neighbour's burst of load hits every configuration alike
        for config in configs:
            runs[config].append(run(config[1], config[2], args.steps, args.threads))
    print(f"{'rule':<12} {'procs':>5} {'batch/rank':>10} {'steps/s':>8} {'images/s':>9} {'wait':>6} "
          f"{'all-reduce':>10} {'speedup':>8}")
    base = {}
    for rule, n, per_rank in configs:
        results = sorted(runs[(rule, n, per_rank)], key=lambda r: r["seconds"])
        r = results[len(results) // 2]
        rate = args.steps / r["seconds"]
        images = rate * per_rank * n
        base.setdefault(rule, images)
        print(f"{rule:<12} {n:>5} {per_rank:>10} {rate:>8.2f} {images:>9.1f} {r['wait'] / r['seconds']:>6.1%} "
              f"{r['allreduce'] / r['seconds']:>10.1%} {images / base[rule]:>7.2f}x", flush=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load after: {os.getloadavg()[0]:.2f} (uptime: {uptime})")

if __name__ == "__main__":
    main()
