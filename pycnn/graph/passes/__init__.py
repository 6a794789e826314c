"""Graph passes: one a file, each a function that rewrites a :class:`pycnn.graph.GraphIR` in place
(as onnxruntime's core/optimizer/*.cc, one transformer a file).

The order a loader runs them in (pycnn.onnx.load):
1. ``fold_constants``: the kind of every value; constant subgraphs computed at import;
   then ``fuse_local_response_norm``: PyTorch's LocalResponseNorm export becomes one LRN node;
2. (the loader binds weights to Parameters)
3. ``prune_unused``: only what reaches an output stays;
4. ``plan_memory``: when each value can be freed; always last.

For inference (pycnn.inference builds a plan): ``remove_identity``, ``fold_batch_norm``, ``fuse_swish``,
then per input shape ``fuse_conv`` and ``fuse_conv_max_pool``; the plan's arena replaces ``plan_memory``.

A new pass (fold batch norm into a convolution, fuse an activation): a file here holding one public
function ``<pass>(ir, ...)`` with a docstring saying what it rewrites and what it leaves, exported
below, and called between ``prune_unused`` and ``plan_memory`` by the plan that wants it.
"""
from .fold_batch_norm import fold_batch_norm
from .fold_constants import FOLD_ERRORS, fold_constants
from .fuse_conv import fuse_conv, fuse_conv_max_pool, fused_conv_op
from .fuse_local_response_norm import fuse_local_response_norm
from .fuse_swish import fuse_swish, silu_op
from .plan_memory import plan_memory
from .prune_unused import prune_unused
from .remove_identity import remove_identity

__all__ = ["FOLD_ERRORS", "fold_batch_norm", "fold_constants", "fuse_conv", "fuse_conv_max_pool", "fused_conv_op",
           "fuse_local_response_norm", "fuse_swish", "plan_memory", "silu_op",
           "prune_unused", "remove_identity"]
