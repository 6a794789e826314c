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


def reset_peak_memory_stats():
    """Restarts :func:`max_memory_allocated` from the current :func:`memory_allocated`."""
    _C.cuda_reset_peak_memory_stats()


def memory_reserved():
    """Bytes taken from the driver: live tensors plus the caching allocator's free blocks."""
    return _C.cuda_memory_reserved()


def empty_cache():
    """Returns the caching allocator's free blocks to the driver (live tensors are untouched)."""
    _C.cuda_empty_cache()


def set_allow_tf32(allow):
    """Lets GPU matrix products (conv2d, linear, gemm) use TF32 tensor cores: faster, with about
    1e-3 relative error instead of 1e-6. Off by default, like torch.backends.cuda.matmul.allow_tf32."""
    _C.cuda_set_allow_tf32(bool(allow))


def allow_tf32():
    """Whether GPU matrix products may use TF32 (see :func:`set_allow_tf32`)."""
    return _C.cuda_get_allow_tf32()
