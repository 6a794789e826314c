"""The registry of ONNX ops: ``@importer`` registers how an ONNX op is imported, ``@exporter`` how a
pycnn autograd Function is written as ONNX. Each family file (conv.py, pooling.py, ...) holds an op's
import handler and its export emitter side by side, named after the op:

    @importer("BatchNormalization", weights={1: "as_is", 2: "as_is"}, buffers=(3, 4), inputs=(5, 5), ...)
    def import_batch_norm(node, inputs, training):     # inputs: pycnn Tensors -> a tuple of outputs
        ...

    @exporter(BatchNormFunction)
    def export_batch_norm(trace, out, x, mean, var, weight, bias, training, momentum, eps):
        ...                                            # the Function's forward arguments, as traced

The importer's keywords are those of :class:`pycnn.graph.Op` (what the graph passes and the
executor need) and of :class:`OnnxOp` (what ``check`` validates: attributes, input and output counts).
"""
import numpy as np

from ...graph import Op
from ...tensor import Tensor

IMPORTERS = {}  # ONNX op type -> OnnxOp
EXPORTERS = {}  # pycnn autograd Function class -> emitter(trace, out, *args, **kwargs)

# The type each ONNX attribute must have (parse.read_attributes gives int, float, str, an ndarray for
# a tensor, or a list); an op may override one (Pad's ``value`` is a float, Constant's a tensor).
ATTRIBUTE_KINDS = dict(
    {k: "str" for k in ("auto_pad", "mode", "coordinate_transformation_mode", "nearest_mode",
                        "keep_aspect_ratio_policy")},
    **{k: "ints" for k in ("dilations", "kernel_shape", "pads", "strides", "perm", "axes", "shape",
                           "consumed_inputs", "paddings", "value_ints", "split", "starts", "ends", "scales",
                           "sizes", "output_padding", "output_shape")},
    **{k: "int" for k in ("group", "ceil_mode", "count_include_pad", "storage_order", "transA", "transB", "axis",
                          "keepdims", "allowzero", "size", "is_test", "spatial", "training_mode",
                          "noop_with_empty_axes", "num_outputs", "blocksize", "num_groups", "stash_type",
                          "start", "end", "to", "seed", "broadcast", "saturate", "value_int")},
    **{k: "float" for k in ("alpha", "beta", "bias", "epsilon", "momentum", "ratio", "min", "max", "value_float")},
    value_floats="floats", value="tensor", then_branch="graph", else_branch="graph")

_KIND_TEST = {
    "int": lambda v: isinstance(v, int), "float": lambda v: isinstance(v, (int, float)),
    "str": lambda v: isinstance(v, str), "tensor": lambda v: isinstance(v, np.ndarray),
    "ints": lambda v: isinstance(v, list) and all(isinstance(x, int) for x in v),
    "int_or_str": lambda v: isinstance(v, (int, str)),
    "graph": lambda v: type(v).__name__ == "Subgraph",
    "floats": lambda v: isinstance(v, list) and all(isinstance(x, (int, float)) for x in v),
}
_KIND_NAMES = {"int": "an int", "float": "a float", "str": "a string", "tensor": "a tensor",
               "ints": "a list of ints", "floats": "a list of floats", "int_or_str": "an int or a type name",
               "graph": "a graph"}

ANY_NUMBER = (1, None)  # the ``inputs`` of a variadic op: one or more, none of them empty


def _kind_of(value):
    if isinstance(value, list):
        return "a list of strings" if value and isinstance(value[0], str) else "a list"
    return {int: "an int", float: "a float", str: "a string"}.get(type(value), "a tensor")


def inputs_by_opset(opset, before, since):
    """``inputs`` for an op whose arguments moved from attributes to inputs at ``opset``."""
    return lambda node: since if node.opset >= opset else before


class OnnxOp(Op):
    """An ONNX op pycnn imports: a :class:`pycnn.graph.Op` and what ``problems`` validates.

    attrs: the attributes it supports (any other is a problem).
    inputs: (fewest, most) inputs (most None: any number, none of them empty), or a function of the
        node giving it; the first ``fewest`` must not be empty names.
    outputs: the most outputs.
    check(node, outputs_used) -> problems: the op's own attribute rules.
    attr_kinds: overrides of ATTRIBUTE_KINDS for this op.
    runs_on_host: its Tensor implementation computes with numpy (a CUDA tensor makes a round trip).
    any_dtype_inputs: inputs that may be constants of any numeric or bool type (a Where's condition,
        an integer exponent): they reach ``on_tensors`` converted to float32.
    ranks: {input index: the ranks ``on_tensors`` takes there}: an int, or (fewest, None) for at least
        ``fewest``; an input not named takes any rank. Checked at load where the file declares the
        shape (:meth:`rank_problem`) and before every run, with the dtype (float32) of every network
        value reaching ``on_tensors``, so that a hostile graph gets a ValueError naming the node instead
        of whatever the handler would trip over.
    """

    def __init__(self, op_type, *, attrs=(), inputs=(1, 1), outputs=1, check=None, attr_kinds=None,
                 runs_on_host=False, ranks=None, any_dtype_inputs=(), **graph_op):
        super().__init__(**graph_op)
        self.op_type = op_type
        self.attrs = frozenset(attrs)
        self.inputs, self.outputs, self.check = inputs, outputs, check
        self.attr_kinds = dict(ATTRIBUTE_KINDS, **(attr_kinds or {}))
        self.runs_on_host = runs_on_host
        self.any_dtype_inputs = frozenset(any_dtype_inputs)
        self.ranks = dict(ranks or {})
        if self.on_tensors is not None:
            self.on_tensors = self._checked(self.on_tensors)

    def rank_problem(self, node, index, shape):
        """Why input ``index`` of ``node`` cannot have ``shape`` (dims, None where unknown), or None."""
        allowed = self.ranks.get(index)
        if allowed is None:
            return None
        fewest, most = (allowed, allowed) if isinstance(allowed, int) else allowed
        if fewest <= len(shape) and (most is None or len(shape) <= most):
            return None
        needed = f"{fewest}-d" if fewest == most else f"at least {fewest}-d" if most is None else \
            f"{fewest}-d to {most}-d"
        shown = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
        return f"input {index} ({node.inputs[index]!r}) must be {needed}, got shape {shown} ({len(shape)}-d)"

    def _checked(self, on_tensors):
        """``on_tensors`` behind the dtype and rank checks of every Tensor it is given."""
        def run(node, inputs, training):
            for index, x in enumerate(inputs):
                if not isinstance(x, Tensor) or index in self.type_only_inputs or index in self.shape_only_inputs:
                    continue
                if x.dtype != "float32":
                    raise ValueError(f"input {index} ({node.inputs[index]!r}) must be float32, got {x.dtype} "
                                     f"of shape {tuple(x.shape)}")
                message = self.rank_problem(node, index, tuple(x.shape))
                if message is not None:
                    raise ValueError(message)
            return on_tensors(node, inputs, training)
        return run

    def problems(self, node, outputs_used):
        """What pycnn cannot import in ``node``: unknown or mistyped attributes, input and output counts,
        the op's own rules. ``outputs_used``: for each output, whether anything reads it."""
        problems = [f"attribute {k!r} is not supported" for k in node.attrs if k not in self.attrs]
        wrong = [k for k in node.attrs if k in self.attrs and not _KIND_TEST[self.attr_kinds[k]](node.attrs[k])]
        problems += [f"attribute {k!r} must be {_KIND_NAMES[self.attr_kinds[k]]}, got {_kind_of(node.attrs[k])} "
                     f"{node.attrs[k]!r:.60}" for k in wrong]
        fewest, most = self.inputs(node) if callable(self.inputs) else self.inputs
        count = len(node.inputs)
        if count < fewest or (most is not None and count > most):
            expected = f"{fewest}" if fewest == most else f"{fewest} to {most}" if most is not None else \
                f"at least {fewest}"
            problems.append(f"expected {expected} inputs, got {count}")
        required = count if most is None else min(fewest, count)  # variadic ops use every input
        problems += [f"input {i} is required but its name is empty" for i in range(required) if not node.inputs[i]]
        if not node.outputs or len(node.outputs) > self.outputs or not node.outputs[0]:
            problems.append(f"expected 1 to {self.outputs} outputs with a named first one, got {node.outputs}")
        if self.check is not None and not wrong:
            problems += self.check(node, outputs_used)
        return problems


def importer(*op_types, arrays_only=False, arrays_too=False, **op):
    """Registers the decorated ``handler(node, inputs, training) -> tuple of Tensors`` as the import of
    each of ``op_types``, with :class:`OnnxOp`'s keywords.

    arrays_only: the handler is ``handler(node, arrays) -> tuple of arrays`` and the op is computed
        only on constants and shapes (Shape, Gather, Cast...).
    arrays_too: the handler works on numpy arrays as well (the shape ops), so it also folds constants
        and computes shapes; otherwise ``on_arrays=`` may name a numpy twin."""
    def register(handler):
        for op_type in op_types:
            if op_type in IMPORTERS:
                raise RuntimeError(f"pycnn.onnx: two import handlers for {op_type}")
            if arrays_only:
                IMPORTERS[op_type] = OnnxOp(op_type, on_arrays=handler, **op)
            elif arrays_too:
                IMPORTERS[op_type] = OnnxOp(op_type, on_tensors=handler, on_arrays=_on_arrays(handler), **op)
            else:
                IMPORTERS[op_type] = OnnxOp(op_type, on_tensors=handler, **op)
        return handler
    return register


def _on_arrays(handler):
    def on_arrays(node, inputs):
        return handler(node, [np.asarray(x) if x is not None else None for x in inputs], False)
    return on_arrays


def exporter(*function_classes):
    """Registers the decorated ``emitter(trace, out, *args, **kwargs)`` as the ONNX export of each of
    ``function_classes`` (pycnn autograd Functions, matched exactly: a subclass needs its own)."""
    def register(emitter):
        for cls in function_classes:
            if cls in EXPORTERS:
                raise RuntimeError(f"pycnn.onnx: two export emitters for {cls.__name__}")
            EXPORTERS[cls] = emitter
        return emitter
    return register
