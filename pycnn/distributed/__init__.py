"""pycnn.distributed: data-parallel training across processes and hosts, on MPI (mpi4py).

    import pycnn.distributed as dist
    dist.init_process_group()                      # under `mpiexec -n 4 python train.py`
    model = pycnn.nn.parallel.DistributedDataParallel(model)
    sampler = pycnn.data.DistributedSampler(dataset)

PyTorch's names and semantics (torch.distributed); see process_group for the timeout rule and
nccl for the state of CUDA tensors. ``pip install pycnn[distributed]`` installs mpi4py and mpich.
"""
from . import nccl
from .process_group import (DistBackendError, ReduceOp, Work, all_gather, all_reduce, barrier, broadcast,
                            destroy_process_group, get_backend, get_rank, get_world_size, init_process_group,
                            is_available, is_initialized)

__all__ = ["DistBackendError", "ReduceOp", "Work", "all_gather", "all_reduce", "barrier", "broadcast",
           "destroy_process_group", "get_backend", "get_rank", "get_world_size", "init_process_group",
           "is_available", "is_initialized"]
