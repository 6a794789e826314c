"""NCCL for CUDA tensors, loaded through ctypes, as Horovod does: rank 0 asks NCCL for a unique id,
MPI broadcasts its 128 bytes, and every rank calls ncclCommInitRank with it.

State (issue 13): the library loading, the unique-id broadcast and the communicator's creation are
here; they were tested on a machine with no GPU only as far as that allows (the broadcast with a
stand-in id source, and the clear error when no GPU or libnccl exists). Collectives on CUDA tensors
(ncclAllReduce on device pointers) are not written: pycnn raises NotImplementedError for them rather
than run code no GPU has checked.
"""
import ctypes
import os

import numpy as np

from .. import cuda

UNIQUE_ID_BYTES = 128  # sizeof(ncclUniqueId): NCCL_UNIQUE_ID_BYTES in nccl.h


def _candidates():
    """Where libnccl may be: $PYCNN_NCCL_LIBRARY, the nvidia-nccl-cu12 wheel, the loader's path."""
    names = []
    if os.environ.get("PYCNN_NCCL_LIBRARY"):
        names.append(os.environ["PYCNN_NCCL_LIBRARY"])
    try:
        import nvidia.nccl

        for folder in nvidia.nccl.__path__:
            names.append(os.path.join(folder, "lib", "libnccl.so.2"))
    except ImportError:
        pass
    return names + ["libnccl.so.2", "libnccl.so"]


def load_library():
    """The NCCL shared library as a ctypes.CDLL; RuntimeError naming every place tried."""
    failures = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name)
        except OSError as error:
            failures.append(f"{name} ({error})")
    raise RuntimeError("NCCL: libnccl.so.2 was not found; install it with `pip install nvidia-nccl-cu12` or "
                       "set PYCNN_NCCL_LIBRARY to its path. Tried: " + "; ".join(failures))


def is_available():
    """True when a CUDA GPU is usable and libnccl loads."""
    if not cuda.is_available():
        return False
    try:
        load_library()
    except RuntimeError:
        return False
    return True


def _check(library, code, call):
    if code != 0:
        library.ncclGetErrorString.restype = ctypes.c_char_p
        raise RuntimeError(f"NCCL: {call} failed with error {code}: {library.ncclGetErrorString(code).decode()}")


def broadcast_unique_id(comm, make_unique_id):
    """Rank 0's ``make_unique_id()`` (bytes of length UNIQUE_ID_BYTES) on every rank of the MPI
    communicator ``comm``; the other ranks do not call it."""
    buffer = np.zeros(UNIQUE_ID_BYTES, dtype=np.uint8)
    if comm.Get_rank() == 0:
        unique_id = bytes(make_unique_id())
        if len(unique_id) != UNIQUE_ID_BYTES:
            raise RuntimeError(f"NCCL: expected a unique id of {UNIQUE_ID_BYTES} bytes, got {len(unique_id)}")
        buffer[:] = np.frombuffer(unique_id, dtype=np.uint8)
    comm.Bcast(buffer, root=0)
    return buffer.tobytes()


class Communicator:
    """An NCCL communicator spanning the MPI group's ranks, one GPU each: pycnn's "cuda" is the first
    GPU a process sees, so each rank needs its own CUDA_VISIBLE_DEVICES (not set by pycnn yet)."""

    def __init__(self, group):
        if not cuda.is_available():
            raise RuntimeError("init_process_group(backend='nccl'): NCCL needs a CUDA GPU, and "
                               "pycnn.cuda.is_available() is False here; use backend='mpi' (or 'auto')")
        if group.comm is None:
            raise RuntimeError("init_process_group(backend='nccl'): the unique id is broadcast over MPI; "
                               "install mpi4py (`pip install pycnn[distributed]`)")
        self.library = load_library()

        def make_unique_id():
            unique_id = ctypes.create_string_buffer(UNIQUE_ID_BYTES)
            _check(self.library, self.library.ncclGetUniqueId(unique_id), "ncclGetUniqueId")
            return unique_id.raw

        unique_id = ctypes.create_string_buffer(broadcast_unique_id(group.comm, make_unique_id), UNIQUE_ID_BYTES)
        self.handle = ctypes.c_void_p()

        class UniqueId(ctypes.Structure):  # ncclUniqueId is passed by value: a 128-byte struct
            _fields_ = [("internal", ctypes.c_char * UNIQUE_ID_BYTES)]

        by_value = UniqueId.from_buffer_copy(unique_id.raw)
        self.library.ncclCommInitRank.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, UniqueId,
                                                  ctypes.c_int]
        _check(self.library, self.library.ncclCommInitRank(ctypes.byref(self.handle), group.size, by_value,
                                                           group.rank), "ncclCommInitRank")

    def all_reduce(self, tensor):
        raise NotImplementedError("all_reduce of CUDA tensors through NCCL is not implemented yet (issue 13): "
                                  "move the tensor to the CPU, or train on the CPU under MPI")
