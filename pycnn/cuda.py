"""CUDA queries: ``is_available()`` answers honestly on machines with no GPU or driver."""
from . import _C


def is_available():
    """True when this build has the CUDA backend and a GPU with a working driver is present."""
    return _C.built_with_cuda() and _C.cuda_device_count() > 0


def device_count():
    return _C.cuda_device_count()


def memory_allocated():
    """Bytes of GPU memory held by live tensors."""
    return _C.cuda_memory_allocated()


def max_memory_allocated():
    """The high-water mark of :func:`memory_allocated`."""
    return _C.cuda_max_memory_allocated()


def synchronize():
    """Waits for all queued GPU work to finish."""
    if is_available():
        _C.cuda_synchronize()
