"""DistributedDataParallel: one model replica a process, gradients averaged over the ranks.

How a step goes (PyTorch's reducer, in Python):

- Construction broadcasts rank 0's parameters and buffers, so every replica starts equal, and checks
  that every rank holds a model of the same parameter shapes.
- The parameters, in reverse order (the order backward produces their gradients), are packed into
  buckets of at most ``bucket_cap_mb``: one flat float32 numpy buffer each.
- Each parameter's post-accumulate-grad hook (autograd fires it the moment that gradient is final)
  copies the gradient into its slice of the bucket, unless ``.grad`` already is that slice (it is from
  the second step on when gradients are zeroed in place, ``zero_grad(set_to_none=False)``); then
  ``.grad`` becomes the slice. When a bucket's last gradient has come, the bucket goes to a
  communication thread, which all-reduces it in place (mpi4py's Allreduce on the numpy buffer: no
  copy; MPI releases the GIL, so it runs while backward computes the earlier layers) and divides by
  the world size. Buckets are launched in index order on every rank, as MPI requires.
- When backward ends (autograd.queue_callback), the main thread waits for the last buckets. A
  parameter that got no gradient raises RuntimeError naming it, unless ``find_unused_parameters``;
  a bucket not reduced within the process group's timeout raises DistBackendError (a rank that
  skipped backward never joins it), never a hang.

``no_sync()`` skips all of that: gradients accumulate locally, and the first backward outside it
reduces the sum. CUDA models would reduce through NCCL, which is not written (see
pycnn.distributed.nccl): DistributedDataParallel takes CPU models.
"""
import contextlib
import queue
import threading
import time
import weakref

import numpy as np

from ..autograd import _final_callbacks, queue_callback
from ..creation import from_numpy
from ..distributed import process_group
from .module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """A flat buffer for some parameters' gradients; ``offsets[i]`` is where parameter i begins."""

    def __init__(self, index, params):
        self.index = index
        self.params = params  # [(name, Parameter)]
        sizes = [int(np.prod(p.shape)) for _, p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.buffer = np.zeros(int(self.offsets[-1]), dtype=np.float32)
        self.views = [from_numpy(self.buffer[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape))
                      for i, (_, p) in enumerate(params)]
        self.reset()

    def reset(self):
        self.ready = [False] * len(self.params)
        self.missing = len(self.params)
        self.done = threading.Event()
        self.error = None
        self.wait_seconds = 0.0

    def names(self):
        return [name for name, _ in self.params]


def _communicate(buckets, group):
    """The communication thread: all-reduces each bucket it is given, in order, and averages. It holds
    no reference to the DistributedDataParallel, which can be freed while the thread waits."""
    while True:
        bucket = buckets.get()
        try:
            if group.comm is not None:
                from mpi4py import MPI

                group.comm.Allreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
                bucket.buffer /= group.size
        except BaseException as error:  # handed to the main thread, which raises it
            bucket.error = error
        bucket.done.set()
        bucket = None  # hold nothing while waiting for the next


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training in the default process group (torch's name and
    arguments). ``forward`` is the module's; ``.module`` is the wrapped model (its state_dict keys are
    prefixed ``module.``, as torch's).

    bucket_cap_mb: most megabytes of gradients per all-reduce. broadcast_buffers: rank 0's buffers
    (batch-norm running statistics) are broadcast before every forward. find_unused_parameters:
    parameters that get no gradient in a backward count as zero there instead of raising."""

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True, bucket_cap_mb=25,
                 find_unused_parameters=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a pycnn.nn.Module, got {type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        if device_ids is not None or output_device is not None:
            raise ValueError(f"DistributedDataParallel: device_ids and output_device must be None for a CPU "
                             f"module (as torch's), got device_ids={device_ids!r}, output_device={output_device!r}")
        default = process_group._current("DistributedDataParallel")
        self.module = module
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        for name, p in list(named) + list(module.named_buffers()):
            if p.device != "cpu":
                raise NotImplementedError(f"DistributedDataParallel: {name} is on {p.device}; reducing CUDA "
                                          "gradients through NCCL is not implemented yet (issue 13), so "
                                          "DistributedDataParallel takes CPU models")
        object.__setattr__(self, "_settings", (bool(broadcast_buffers), bool(find_unused_parameters)))
        comm = default.comm.Dup() if default.comm is not None else None
        group = process_group._Group(default.backend, comm, default.rank, default.size, default.timeout)
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "communication_seconds", 0.0)  # waits on buckets and broadcasts, summed
        self._check_same_model(named)
        self._broadcast(list(module.parameters()) + list(module.buffers()), "broadcasting rank 0's parameters")
        buckets, current, size = [], [], 0
        cap = bucket_cap_mb * 1024 * 1024
        for name, p in reversed(named):
            nbytes = 4 * int(np.prod(p.shape))
            if current and size + nbytes > cap:
                buckets.append(_Bucket(len(buckets), current))
                current, size = [], 0
            current.append((name, p))
            size += nbytes
        if current:
            buckets.append(_Bucket(len(buckets), current))
        object.__setattr__(self, "_buckets", buckets)
        object.__setattr__(self, "require_backward_grad_sync", True)
        object.__setattr__(self, "_next_bucket", 0)
        object.__setattr__(self, "_queue", queue.Queue())
        object.__setattr__(self, "_thread", None)
        handles = []
        for bucket in buckets:
            for i, (_, p) in enumerate(bucket.params):
                handles.append(p.register_post_accumulate_grad_hook(self._hook(bucket, i)))
        object.__setattr__(self, "_hook_handles", handles)

    # ----- construction -----------------------------------------------------------------------
    def _check_same_model(self, named):
        """Every rank must hold the same parameter shapes, or buckets would pair different tensors."""
        group = self._group
        if group.comm is None:
            return
        signature = ";".join(f"{name}:{tuple(p.shape)}" for name, p in named).encode()
        shapes = np.frombuffer(signature, dtype=np.uint8)
        lengths = np.zeros(group.size, dtype=np.int64)
        self._wait(group.comm.Iallgather(np.array([len(shapes)], dtype=np.int64), lengths), "checking model shapes")
        if len(set(lengths.tolist())) == 1:
            gathered = np.zeros((group.size, len(shapes)), dtype=np.uint8)
            self._wait(group.comm.Iallgather(shapes, gathered), "checking model shapes")
            if all((row == shapes).all() for row in gathered):
                return
        raise ValueError(f"DistributedDataParallel: rank {group.rank}'s model differs from another rank's "
                         f"(parameter names and shapes must match on every rank); this rank's: "
                         f"{signature.decode()[:500]}")

    def _wait(self, request, what):
        process_group.wait_request(self._group, request, f"DistributedDataParallel: {what}")

    def _broadcast(self, tensors, what):
        """Rank 0's values of ``tensors`` on every rank: one broadcast per dtype, of the tensors packed
        into one flat array (a batch-norm network has three buffers a layer)."""
        if self._group.comm is None:
            return
        began = time.perf_counter()
        for dtype in ("float32", "int64"):
            arrays = [t.numpy() for t in tensors if t.dtype == dtype]
            if not arrays:
                continue
            flat = np.concatenate([a.ravel() for a in arrays])
            self._wait(self._group.comm.Ibcast(flat, root=0), what)
            if self._group.rank != 0:
                offset = 0
                for a in arrays:
                    a.ravel()[...] = flat[offset:offset + a.size]
                    offset += a.size
        object.__setattr__(self, "communication_seconds", self.communication_seconds + time.perf_counter() - began)

    # ----- forward ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        if self._settings[0] and self.require_backward_grad_sync:
            buffers = list(self.module.buffers())
            if buffers:
                self._broadcast(buffers, "broadcasting rank 0's buffers")
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside accumulates gradients locally without communication (torch's no_sync);
        the first backward after it all-reduces the accumulated sums."""
        previous = self.require_backward_grad_sync
        object.__setattr__(self, "require_backward_grad_sync", False)
        try:
            yield
        finally:
            object.__setattr__(self, "require_backward_grad_sync", previous)

    # ----- backward ---------------------------------------------------------------------------
    def _hook(self, bucket, i):
        owner = weakref.ref(self)  # the parameters must not keep their wrapper alive

        def hook(param):
            ddp = owner()
            if ddp is not None and ddp.require_backward_grad_sync:
                ddp._mark_ready(bucket, i, param)
        return hook

    def _mark_ready(self, bucket, i, param):
        if self._finish_backward not in _final_callbacks():  # the first gradient of this backward
            object.__setattr__(self, "_next_bucket", 0)
            for b in self._buckets:
                b.reset()
            queue_callback(self._finish_backward)
        if bucket.ready[i]:
            raise RuntimeError(f"DistributedDataParallel: {bucket.params[i][0]} got its gradient twice in one "
                               "backward (a parameter is reduced once a backward)")
        view = bucket.views[i]
        if param.grad is not view:
            view.numpy()[...] = param.grad.numpy()
            param.grad = view
        bucket.ready[i] = True
        bucket.missing -= 1
        self._launch_ready()

    def _launch_ready(self):
        """Hands buckets to the communication thread in index order, each once all its gradients are in."""
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].missing == 0:
            self._start_thread()
            self._queue.put(self._buckets[self._next_bucket])
            object.__setattr__(self, "_next_bucket", self._next_bucket + 1)

    def _start_thread(self):
        if self._thread is None:
            thread = threading.Thread(target=_communicate, args=(self._queue, self._group),
                                      name="pycnn-ddp-allreduce", daemon=True)
            object.__setattr__(self, "_thread", thread)
            thread.start()

    def _finish_backward(self):
        unused = [(b, i) for b in self._buckets for i in range(len(b.params)) if not b.ready[i]]
        if unused and not self._settings[1]:
            self._wait_launched()
            names = [b.params[i][0] for b, i in unused]
            raise RuntimeError(
                "DistributedDataParallel: these parameters got no gradient in this backward, so the ranks "
                f"cannot reduce their buckets: {', '.join(names)}. If the forward pass does not use every "
                "parameter, pass find_unused_parameters=True (their gradients then count as zero on this "
                "rank); or make the loss depend on them.")
        used = np.ones(sum(len(b.params) for b in self._buckets), dtype=np.int32)
        position = {}
        for b in self._buckets:
            for i in range(len(b.params)):
                position[(b.index, i)] = len(position)
        for b, i in unused:  # zeros for what this rank did not use; the others' gradients still count
            b.views[i].numpy()[...] = 0.0
            b.ready[i] = True
            b.missing -= 1
            used[position[(b.index, i)]] = 0
        self._launch_ready()
        self._wait_launched()
        if self._settings[1] and self._group.comm is not None:
            # Every rank reduces the map, used all or not, so that the collectives pair up: a rank that
            # skipped it while another's forward left a parameter out would pair its next collective
            # with the other's map (torch's DDP reduces it every step in this mode too).
            request = self._group.comm.Iallreduce(process_group._mpi().IN_PLACE, used)
            self._wait(request, "finding unused parameters")
        for b, i in unused:  # used on another rank: it takes the average; on none: .grad stays
            if used[position[(b.index, i)]]:
                b.params[i][1].grad = b.views[i]

    def _wait_launched(self):
        """Waits for every bucket handed to the communication thread, within the group's timeout."""
        group = self._group
        began = time.perf_counter()
        deadline = time.monotonic() + group.timeout
        try:
            for bucket in self._buckets[:self._next_bucket]:
                if not bucket.done.wait(max(deadline - time.monotonic(), 0.0)):
                    raise process_group._break(
                        group, f"DistributedDataParallel: the all-reduce of gradient bucket {bucket.index} "
                        f"({', '.join(bucket.names()[:4])}{', ...' if len(bucket.params) > 4 else ''}) timed out "
                        f"after {group.timeout:g} s on rank {group.rank} of {group.size}: another rank did not "
                        "join it (did one skip backward, or stop?)")
                if bucket.error is not None:
                    raise process_group._break(group, f"DistributedDataParallel: the all-reduce of gradient "
                                               f"bucket {bucket.index} failed: {bucket.error}")
        finally:
            object.__setattr__(self, "communication_seconds",
                               self.communication_seconds + time.perf_counter() - began)

    def bucket_names(self):
        """The parameter names of each bucket, in the order they are reduced."""
        return [b.names() for b in self._buckets]
