"""Loads the compiled core (pycnn._C) and says how its OpenMP threads wait between parallel regions.

libgomp (GCC's OpenMP, which _C links) makes an idle thread spin for GOMP_SPINCOUNT iterations
(300,000 by default: a few milliseconds) before it sleeps. pycnn keeps that default: with the cores to
itself a spinning thread joins the next region at once, and a sleeping one took 60-270 us to wake on
one of this project's VMs and 4-12 ms on another (more than a batch-1 convolution takes). With another
busy process on the cores the same spin is a disaster, and pycnn's thread governor
(cpp/include/pycnn/thread_governor.h) handles that case: every 50 ms it reads how much CPU time other
processes took on this process's CPUs and, while they take cores, runs pycnn's ops on the cores they
leave (at least one thread). :func:`openmp_wait_policy` says which setting this process runs with;
tools/bench.py contention measures both cases.

An earlier pycnn set GOMP_SPINCOUNT=10000 here instead (threads asleep after ~0.2 ms): that spared the
busy machine but woke the threads for nearly every region on an idle one, and a region then waited
for the wake-up at each of its barriers (a 50 us convolution took 700-870 us on two threads).
"""
import glob
import os

_USER_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

try:
    from . import _C  # noqa: F401  (libgomp loads here and reads the environment)
except ImportError:
    here = os.path.dirname(os.path.abspath(__file__))
    if glob.glob(os.path.join(here, "_C.*")):
        raise
    raise ImportError(
        f"pycnn is being imported from its source tree ({here}), which has no compiled core (_C): run Python "
        f"from another folder to use the installed pycnn, or build in place (README.md, 'A developer build': "
        f"cmake -S . -B .devbuild -DPython_EXECUTABLE=... && ninja -C .devbuild)") from None

_USER = {key: os.environ[key] for key in _USER_KEYS if key in os.environ}


def openmp_wait_policy():
    """How the OpenMP threads of this process wait between parallel regions: the user's OMP_WAIT_POLICY /
    GOMP_SPINCOUNT (read by libgomp when it loaded) or libgomp's default spin, and whether pycnn's thread
    governor is on (PYCNN_THREAD_GOVERNOR=0 turns it off) and holding the teams below that count now."""
    spin = ("yours: " + ", ".join(f"{k}={v}" for k, v in _USER.items()) if _USER else
            "libgomp's default (idle threads spin ~300,000 iterations before sleeping)")
    state = _C.thread_governor()
    if not state["enabled"]:
        return f"{spin}; thread governor off"
    cap = state["cap"]
    verdict = ("all threads" if not state["contended"] else
               "one thread: another process is using the cores" if cap == 1 else
               f"at most {cap} threads: other processes are using the other cores")
    return f"{spin}; thread governor on ({verdict})"
