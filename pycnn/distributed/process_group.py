"""The default process group: MPI (through mpi4py) underneath, PyTorch's names on top.

    init_process_group(backend="auto")   # rank and world size from the launcher (mpiexec, srun)
    all_reduce(tensor, op="sum")          # in place, every rank ends with the same values
    destroy_process_group()

The launcher decides the world: ``mpiexec -n 4 python train.py`` starts four ranks; a plain
``python train.py`` is a world of one, which needs no MPI at all (collectives return at once).
Tensors go to MPI as the numpy arrays that share their memory, so nothing is copied on the way.

Every collective waits at most ``timeout`` seconds (init_process_group's argument; 1800 by default,
as torch). MPI cannot cancel a collective that a peer never joins, so a timeout leaves the group
broken: the error names the collective, later collectives raise at once, and at exit the process
calls MPI_Abort, which makes the launcher end every rank instead of leaving them hanging.
"""
import atexit
import datetime
import os
import threading
import time

import numpy as np

from ..tensor import Tensor

_OPS = ("sum", "avg", "product", "min", "max")
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")


class DistBackendError(RuntimeError):
    """A collective failed or timed out (torch.distributed's name); the group cannot be used again."""


class ReduceOp:
    """torch.distributed.ReduceOp's names; the string forms ("sum", ...) are accepted too."""
    SUM, AVG, PRODUCT, MIN, MAX = _OPS


class _Group:
    """What init_process_group sets up: the communicator (None in a world of one without MPI)."""

    def __init__(self, backend, comm, rank, size, timeout):
        self.backend, self.comm, self.rank, self.size, self.timeout = backend, comm, rank, size, timeout
        self.broken = None  # the message of the timeout that broke the group
        self.nccl = None  # pycnn.distributed.nccl.Communicator for CUDA tensors, on the nccl backend


_group = None
_lock = threading.Lock()


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI


def _launched_size():
    """The world size the launcher's environment announces, or None outside a launcher."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


def _seconds(timeout):
    if timeout is None:
        return 1800.0
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"init_process_group: timeout must be a positive number of seconds or a timedelta, "
                         f"got {timeout!r}")
    return float(timeout)


def is_available():
    """True when mpi4py imports (``pip install pycnn[distributed]``): worlds above one need it."""
    return _mpi() is not None


def is_initialized():
    return _group is not None


def init_process_group(backend="auto", timeout=None, world_size=-1, rank=-1):
    """Joins the world the launcher started: ``backend`` "mpi" (CPU tensors), "nccl" (CUDA tensors
    through NCCL, its unique id broadcast over MPI; CPU tensors still go through MPI) or "auto"
    (nccl when a CUDA GPU and libnccl are found, else mpi). ``world_size``/``rank``, when given,
    must agree with the launcher's. ``timeout``: seconds (or a timedelta) any collective may wait."""
    global _group
    if backend not in ("auto", "mpi", "nccl"):
        raise ValueError(f"init_process_group: backend must be 'auto', 'mpi' or 'nccl', got {backend!r}")
    seconds = _seconds(timeout)
    with _lock:
        if _group is not None:
            raise RuntimeError("init_process_group: trying to initialize the default process group twice "
                               "(call destroy_process_group first)")
        MPI = _mpi()
        if MPI is None:
            launched = _launched_size()
            if launched not in (None, 1) or world_size not in (-1, 1) or backend == "nccl":
                raise RuntimeError("init_process_group: mpi4py is not installed, so pycnn can join no "
                                   f"world of more than one process (the launcher says {launched}); "
                                   "install it with `pip install pycnn[distributed]` (mpi4py and mpich)")
            group = _Group("mpi", None, 0, 1, seconds)
        else:
            comm = MPI.COMM_WORLD.Dup()  # pycnn's own: its collectives never mix with the user's
            group = _Group("mpi", comm, comm.Get_rank(), comm.Get_size(), seconds)
        if world_size not in (-1, group.size) or rank not in (-1, group.rank):
            raise ValueError(f"init_process_group: world_size={world_size}, rank={rank} were asked for, "
                             f"but the launcher started rank {group.rank} of {group.size}")
        if backend in ("nccl", "auto"):
            from . import nccl

            if backend == "nccl" or nccl.is_available():
                group.nccl = nccl.Communicator(group)
                group.backend = "nccl"
        _group = group


def destroy_process_group():
    """Leaves the default group (MPI itself stays initialised until the process exits)."""
    global _group
    with _lock:
        group, _group = _group, None
    if group is not None and group.comm is not None and group.broken is None:
        group.comm.Free()


def _current(what):
    if _group is None:
        raise RuntimeError(f"{what}: the default process group has not been initialized; call "
                           "pycnn.distributed.init_process_group() first")
    if _group.broken is not None:
        raise DistBackendError(f"{what}: the process group is broken by an earlier failure ({_group.broken})")
    return _group


def get_rank():
    """This process's rank (0 when no group is initialized, as a world of one)."""
    return 0 if _group is None else _group.rank


def get_world_size():
    """How many processes the group holds (1 when no group is initialized)."""
    return 1 if _group is None else _group.size


def get_backend():
    return _current("get_backend").backend


def _break(group, message):
    """Marks ``group`` unusable and arranges MPI_Abort at exit (a finalize would wait forever on the
    collective that never completed)."""
    if group.broken is None:
        group.broken = message
        atexit.register(_abort_at_exit, group)
    return DistBackendError(message)


def _abort_at_exit(group):
    import sys

    sys.stderr.flush()
    group.comm.Abort(1)


def wait_request(group, request, what, timeout=None):
    """Waits for an MPI request, polling so that a peer that never comes turns into an error after
    ``timeout`` seconds (the group's by default) instead of a hang."""
    limit = group.timeout if timeout is None else timeout
    deadline = time.monotonic() + limit
    pause = 0.0
    while not request.Test():
        if time.monotonic() > deadline:
            raise _break(group, f"{what} timed out after {limit:g} s on rank {group.rank} of {group.size}: "
                         "another rank did not join it (did one skip a step, a backward, or stop?)")
        time.sleep(pause)
        pause = min(pause * 2 + 1e-5, 1e-3)  # poll fast for quick collectives, gently for slow ones


class Work:
    """What an ``async_op=True`` collective returns (torch's Work): ``wait()`` blocks until it is done
    (raising DistBackendError after the group's timeout), ``is_completed()`` asks without waiting."""

    def __init__(self, group, request, what, finish=None):
        self._group, self._request, self._what, self._finish = group, request, what, finish
        self._done = request is None

    def is_completed(self):
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def wait(self, timeout=None):
        if not self._done:
            wait_request(self._group, self._request, self._what, timeout)
            self._complete()
        return True

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()
            self._finish = None


def _buffer(tensor, what):
    """The numpy array sharing ``tensor``'s memory (CPU pycnn Tensor or numpy array)."""
    if isinstance(tensor, Tensor):
        if tensor.device != "cpu":
            raise NotImplementedError(f"{what}: collectives on {tensor.device} tensors (NCCL) are not implemented "
                                      "yet (issue 13; see pycnn.distributed.nccl); move the tensor to the CPU")
        array = tensor.numpy()
    elif isinstance(tensor, np.ndarray):
        array = tensor
    else:
        raise TypeError(f"{what}: expected a pycnn.Tensor or a numpy array, got {type(tensor).__name__}")
    if not array.flags.c_contiguous or not array.flags.writeable:
        raise ValueError(f"{what}: expected a contiguous, writable tensor, got shape {array.shape} "
                         f"(contiguous={array.flags.c_contiguous}, writable={array.flags.writeable})")
    return array


def _op_name(op, what):
    name = str(op).lower()
    if name not in _OPS:
        raise ValueError(f"{what}: op must be one of {', '.join(_OPS)}, got {op!r}")
    return name


def _run(group, start, what, async_op, finish=None):
    """Starts a nonblocking collective (``start()`` returns its MPI request) and waits for it unless
    ``async_op``; ``finish`` runs once it is complete."""
    work = Work(group, start() if group.comm is not None else None, what, finish)
    if work._done and finish is not None:
        work._complete()
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor, op="sum", async_op=False):
    """Reduces ``tensor`` (CPU, in place) across ranks: every rank ends with the sum (or avg,
    product, min, max). Returns a Work when ``async_op``, else None."""
    group = _current("all_reduce")
    array = _buffer(tensor, "all_reduce")
    name = _op_name(op, "all_reduce")
    if group.comm is None:
        return _run(group, None, "all_reduce", async_op)
    MPI = _mpi()
    mpi_op = {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX}[name]
    finish = (lambda: np.divide(array, group.size, out=array, casting="unsafe")) if name == "avg" else None
    return _run(group, lambda: group.comm.Iallreduce(MPI.IN_PLACE, array, op=mpi_op), "all_reduce",
                async_op, finish)


def broadcast(tensor, src=0, async_op=False):
    """Copies rank ``src``'s ``tensor`` into every other rank's (in place)."""
    group = _current("broadcast")
    array = _buffer(tensor, "broadcast")
    if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < group.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {group.size}), got {src!r}")
    return _run(group, lambda: group.comm.Ibcast(array, root=src), "broadcast", async_op)


def all_gather(tensor_list, tensor, async_op=False):
    """Fills ``tensor_list[r]`` with rank r's ``tensor`` on every rank (all shaped like ``tensor``)."""
    group = _current("all_gather")
    array = _buffer(tensor, "all_gather")
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != group.size:
        got = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list).__name__
        raise ValueError(f"all_gather: expected a list of {group.size} tensors (one per rank), got {got}")
    outputs = [_buffer(t, "all_gather") for t in tensor_list]
    for out in outputs:
        if out.shape != array.shape or out.dtype != array.dtype:
            raise ValueError(f"all_gather: every output must be {array.dtype} of shape {array.shape} like the "
                             f"input, got {out.dtype} of shape {out.shape}")
    gathered = np.empty((group.size,) + array.shape, dtype=array.dtype)

    def finish():
        for out, part in zip(outputs, gathered):
            out[...] = part
    if group.comm is None:
        gathered[0] = array
        return _run(group, None, "all_gather", async_op, finish)
    return _run(group, lambda: group.comm.Iallgather(array, gathered), "all_gather", async_op, finish)


def barrier(async_op=False):
    """Returns once every rank has called barrier (or raises after the group's timeout)."""
    group = _current("barrier")
    return _run(group, lambda: group.comm.Ibarrier(), "barrier", async_op)
