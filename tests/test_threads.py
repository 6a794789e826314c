"""OpenMP threads that sleep soon when idle (pycnn/_threads.py): libgomp's wait policy as pycnn sets it,
the user's own setting respected, and what happens when another library loaded libgomp first."""
import os
import subprocess
import sys

import pytest

from helpers.subprocess_env import subprocess_env

# CPU time this process burns while it sleeps 0.3 s right after a threaded matrix product: what the idle
# OpenMP workers spend spinning (the median of 5).
PROBE = r"""
import os, statistics, sys, time
{before}
import numpy as np
import pycnn
pycnn.set_num_threads(2)
a = pycnn.tensor(np.random.default_rng(0).random((256, 256), dtype=np.float32))
spent = []
for _ in range(5):
    a @ a
    began = time.process_time()
    time.sleep(0.3)
    spent.append(time.process_time() - began)
print(statistics.median(spent) * 1e3)
print(pycnn._threads.openmp_wait_policy())
print(os.environ.get("GOMP_SPINCOUNT"))
"""


def probe(before="", **env):
    environment = subprocess_env()
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        environment.pop(key, None)
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], capture_output=True, text=True,
                          env=environment, cwd=os.path.dirname(__file__), timeout=120)
    assert done.returncode == 0, done.stderr
    ms, policy, left = done.stdout.strip().splitlines()
    return float(ms), policy, left


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2, reason="libgomp on Linux, "
                    "two or more CPUs")
def test_idle_threads_sleep_and_a_users_policy_wins():
    ms, policy, left = probe()
    assert policy == "pycnn's: GOMP_SPINCOUNT=10000"
    assert left == "None"  # pycnn's setting does not leak into child processes
    assert ms < 3.0, f"idle OpenMP threads burnt {ms:.2f} ms of CPU in 0.3 s of sleep"  # 10,000 pauses
    ms, policy, left = probe(OMP_WAIT_POLICY="active")  # spin for ever: the user asked for it
    assert policy == "yours: OMP_WAIT_POLICY=active" and left == "None"
    assert ms > 10.0, f"OMP_WAIT_POLICY=active was not honoured: {ms:.2f} ms of CPU in 0.3 s of sleep"
    ms, policy, left = probe(GOMP_SPINCOUNT="5")
    assert policy == "yours: GOMP_SPINCOUNT=5" and left == "5"


def test_a_libgomp_loaded_before_pycnn_is_reported():
    pytest.importorskip("torch")
    _, policy, _ = probe(before="import torch")
    assert policy.startswith("libgomp's default (threads spin ~300,000 iterations before sleeping): another "
                             "library (torch?) loaded libgomp before pycnn")
