"""Loads the compiled core (pycnn._C) with OpenMP's idle threads set to sleep soon instead of spinning.

libgomp (GCC's OpenMP, which _C links) makes a thread that waits at the end of a parallel region, or
for the next one, spin for GOMP_SPINCOUNT iterations (300,000 by default, about a millisecond) before
it sleeps. On a machine with its cores to itself that saves a wake-up; with another busy process on
the cores, the spinning threads take the time slices the descheduled worker needs, and each parallel
region waits for a whole slice: the main job ran 20-28 s instead of 5 s next to one busy process.

libgomp reads GOMP_SPINCOUNT and OMP_WAIT_POLICY once, when it is loaded. So before _C loads it,
pycnn sets GOMP_SPINCOUNT to SPINCOUNT (a thirtieth of the default: well under a millisecond of
spinning, enough to catch a region that follows at once, short enough to leave a contended core;
batch-1 inference on a crowded machine can lose by it, see README), unless the user set
OMP_WAIT_POLICY or GOMP_SPINCOUNT, and removes it from the environment again afterwards (child
processes inherit the user's environment, not pycnn's choice). It takes effect only if no library
loaded an OpenMP runtime named libgomp.so.1 earlier (torch's wheel ships one under that name):
:func:`openmp_wait_policy` says which case this process is in. tools/bench.py contention measures it.
"""
import ctypes
import glob
import os
import sys

SPINCOUNT = "10000"
_USER_KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def _libgomp_loaded():
    """Whether a library with the soname libgomp.so.1 is already in this process (Linux)."""
    noload = getattr(os, "RTLD_NOLOAD", None)
    if noload is None or not sys.platform.startswith("linux"):
        return False
    try:
        ctypes.CDLL("libgomp.so.1", mode=noload)
        return True
    except OSError:
        return False


def _policy():
    user = {key: os.environ[key] for key in _USER_KEYS if key in os.environ}
    if user:
        return None, "yours: " + ", ".join(f"{k}={v}" for k, v in user.items())
    if _libgomp_loaded():
        return None, ("libgomp's default (threads spin ~300,000 iterations before sleeping): another library "
                      "(torch?) loaded libgomp before pycnn; import pycnn first or set GOMP_SPINCOUNT="
                      f"{SPINCOUNT} in the environment")
    return SPINCOUNT, f"pycnn's: GOMP_SPINCOUNT={SPINCOUNT}"


_SET, _DESCRIPTION = _policy()
if _SET is not None:
    os.environ["GOMP_SPINCOUNT"] = _SET
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
finally:
    if _SET is not None:
        os.environ.pop("GOMP_SPINCOUNT", None)


def openmp_wait_policy():
    """How the OpenMP threads of this process wait between parallel regions, and whose setting it is:
    pycnn's (GOMP_SPINCOUNT=10000), yours (OMP_WAIT_POLICY / GOMP_SPINCOUNT set before pycnn loaded),
    or libgomp's default when another library loaded libgomp first."""
    return _DESCRIPTION
