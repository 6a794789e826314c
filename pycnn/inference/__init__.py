"""Inference: a model compiled into a C++ execution plan (pycnn.optimize_for_inference, and
pycnn.onnx.InferenceSession on top of it).

- capture.py: a Module (traced) or an imported ONNX Graph as a pycnn.graph IR with constant weights;
- plan.py: the passes (identity removal, batch-norm folding, conv epilogue fusion), shape inference
  per input shape, and running;
- lowering.py: each graph op as a step of the C++ plan (cpp/bindings/inference_plan.cpp); the shape ops
  (views, copies, Concat, Transpose, Slice, Split) in lowering_shapes.py;
- arena.py: the static memory plan.
"""
import numpy as np

from ..creation import tensor
from ..nn import Module
from ..tensor import Tensor
from ..onnx.graph import Graph
from .capture import module_graph, onnx_graph
from .plan import CompiledPlan, InferencePlan


def optimize_for_inference(model, example_input, threads=None):
    """``model`` (an eval-mode pycnn Module, or a Graph from pycnn.onnx.load) compiled into an
    :class:`InferencePlan`: calling the plan with a Tensor or numpy array returns what ``model`` would
    in eval mode, without autograd, computed by one C++ call per input shape (batch norm folded into
    the convolutions, residual adds and ReLUs fused into their epilogues, one arena for every value).

    example_input: a Tensor or array of the shape the plan is compiled for now; another shape compiles
    on first use (a Module is traced again for it, as its Python may depend on the shape).
    threads: OpenMP threads for the plan (None: pycnn's setting). The plan copies the weights when it
    compiles a shape: after training the model further, call optimize_for_inference again."""
    if not isinstance(model, Module):
        raise TypeError(f"optimize_for_inference: expected a pycnn Module or an imported Graph, got "
                        f"{type(model).__name__}")
    if not isinstance(example_input, (Tensor, np.ndarray)):
        raise TypeError(f"optimize_for_inference: expected example_input to be a Tensor or numpy array, got "
                        f"{type(example_input).__name__}")
    example = example_input if isinstance(example_input, Tensor) else tensor(np.asarray(example_input, np.float32))
    device = example.device
    if isinstance(model, Graph):
        plan = InferencePlan(onnx_graph(model), threads=threads)
    else:
        def trace_for(shapes):
            (shape,) = shapes
            return module_graph(model, tensor(np.zeros(shape, np.float32), device=device))

        plan = InferencePlan(trace_for, ["input"], threads=threads)
    plan.compiled(tuple(example.shape))
    return plan


__all__ = ["CompiledPlan", "InferencePlan", "optimize_for_inference"]
