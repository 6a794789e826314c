"""summary(model, input_shape): a layer-by-layer table of output shapes, parameters and MACs.

One forward pass of a zeros batch of one image, in eval mode and without gradients, with a forward
hook on every leaf module (a module without children). Each call of a leaf gives one row, so a
module used twice (ResNet's BasicBlock calls its ``relu`` twice) has two rows; its parameters are
shown on the first. Operations done functionally inside a module's ``forward`` (DenseNet's final
relu, torch.cat) have no module and so no row. Totals count every parameter of the model, including
those of modules this input did not reach (GoogLeNet's auxiliary heads in eval mode).

A model imported from ONNX (pycnn.onnx.Graph) has no submodules: its rows are its nodes, in running
order, each with its op, the shape of its (first) output, the parameters it reads first and its MACs.

Multiply-accumulates (MACs): a Conv2d (a Conv node) costs out.numel() * (in_channels / groups) * kh *
kw, a Linear (Gemm, MatMul) out.numel() * in_features (biases excluded); every other layer counts 0.
A FLOP count is about twice the MAC count.

input_shape is one sample's shape, (3, 224, 224), or, as torchinfo's input_size, the whole input with
its batch dimension, (1, 3, 224, 224): a 4-entry shape is always taken whole (no layer takes 5-D input).
"""
import numbers
from dataclasses import dataclass

import numpy as np

from .autograd import no_grad
from .nn import Conv2d, Linear
from .tensor import Tensor, zeros


@dataclass
class LayerRow:
    """One call of one leaf module."""

    name: str            # dotted path in the model, e.g. 'layer1.0.conv1'
    type: str            # class name, e.g. 'Conv2d'
    output_shape: tuple  # batch dimension included (1)
    params: int          # parameters of the module (0 on its second and later calls)
    macs: int            # multiply-accumulates of this call


def _layer_macs(module, output):
    if isinstance(module, Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, Linear):
        return output.numel() * module.in_features
    return 0


def _node_macs(node, inputs, out):
    """MACs of one ONNX node (see the module docstring); 0 for ops without a matrix product."""
    if out is None:
        return 0
    if node.op == "Conv" and len(inputs) > 1 and len(np.shape(inputs[1])) >= 3:
        return out.numel() * _numel(np.shape(inputs[1])[1:])
    if node.op == "Gemm" and out.shape:
        weight = np.shape(inputs[1])
        return out.numel() * (_numel(weight) // out.shape[-1]) if out.shape[-1] else 0
    if node.op == "MatMul" and np.shape(inputs[0]):
        return out.numel() * np.shape(inputs[0])[-1]
    return 0


def _graph_hook(model, rows):
    """The executor's observer for a Graph: one row per node."""
    seen = set()

    def observe(node, inputs, outputs):
        out = _first_tensor(list(outputs))
        shape = tuple(out.shape) if out is not None else (tuple(np.shape(outputs[0])) if outputs else ())
        params = 0
        for name in model.node_parameters(node):
            if name not in seen:
                seen.add(name)
                params += getattr(model, name).numel()
        rows.append(LayerRow(node.name, node.op, shape, params, _node_macs(node, inputs, out)))
    return observe


def _full_shape(model, input_shape):
    """The shape to run: input_shape itself when it includes the batch dimension, else (1, *input_shape)."""
    shape = tuple(int(s) for s in input_shape)
    declared = getattr(model, "_input_dims", {}).get(getattr(model, "input_names", [None])[0]) or []
    if len(shape) == 4 or (declared and len(declared) == len(shape)):
        return shape
    return (1,) + shape


def _first_tensor(output):
    """The output tensor of a leaf: the output itself, or the first tensor of a tuple/list."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, Tensor):
                return item
    return None


def _human(count):
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.2f} {suffix}"
    return str(count)


class Summary:
    """What :func:`summary` returns. ``str()`` is an aligned table with the totals below it.

    rows: list of LayerRow; total_params / trainable_params: parameter counts of the whole model;
    total_macs: sum of the rows' MACs for one image; activation_bytes: float32 bytes of every row's
    output for one image; input_shape: the (1, ...) shape the model ran on.
    """

    def __init__(self, rows, total_params, trainable_params, input_shape):
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_macs = sum(row.macs for row in rows)
        self.activation_bytes = 4 * sum(_numel(row.output_shape) for row in rows)
        self.input_shape = input_shape

    def __repr__(self):
        return (f"Summary(layers={len(self.rows)}, total_params={self.total_params:,}, "
                f"total_macs={self.total_macs:,})")

    def __str__(self):
        header = ("Layer", "Type", "Output shape", "Params", "MACs")
        cells = [header] + [
            (row.name, row.type, str(list(row.output_shape)), f"{row.params:,}", f"{row.macs:,}")
            for row in self.rows
        ]
        widths = [max(len(cell[i]) for cell in cells) for i in range(len(header))]

        def line(cell):
            left = [cell[i].ljust(widths[i]) for i in range(3)]
            right = [cell[i].rjust(widths[i]) for i in range(3, 5)]
            return "  ".join(left + right)

        rule = "-" * len(line(header))
        out = [rule, line(header), rule] + [line(cell) for cell in cells[1:]] + [rule]
        out += [
            f"Input shape: {list(self.input_shape)}",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total MACs: {self.total_macs:,} ({_human(self.total_macs)})",
            f"Activation memory (one image): {self.activation_bytes / 2**20:.2f} MiB",
            rule,
        ]
        return "\n".join(out)


def _numel(shape):
    count = 1
    for size in shape:
        count *= size
    return count


def summary(model, input_shape, device="cpu"):
    """Runs ``model`` once on zeros of shape (1, *input_shape) on ``device`` and returns a Summary.

    input_shape: the shape of one sample without the batch dimension, e.g. (3, 224, 224), or the
    whole input with it, (1, 3, 224, 224), as torchinfo's input_size (see the module docstring). The model
    must already be on ``device``. It runs under no_grad in eval mode; every module's training flag
    is restored afterwards, and the hooks are removed even if the forward pass raises.
    """
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                       for s in input_shape)):
        raise ValueError(f"summary: expected input_shape to be a non-empty tuple of positive ints "
                         f"(one sample, no batch dimension), got {input_shape!r}")
    rows = []
    seen = set()

    def record(name):
        def hook(module, args, output):
            out = _first_tensor(output)
            shape = tuple(out.shape) if out is not None else ()
            params = 0
            if id(module) not in seen:
                seen.add(id(module))
                params = sum(p.numel() for p in module.parameters())
            macs = _layer_macs(module, out) if out is not None else 0
            rows.append(LayerRow(name, type(module).__name__, shape, params, macs))
        return hook

    modes = [(module, module.training) for module in model.modules()]
    graph = hasattr(model, "node_parameters")  # an imported ONNX graph: one row per node
    # A model without children (a bare layer) is its own single leaf.
    handles = [] if graph else [module.register_forward_hook(record(name or type(module).__name__))
                                for name, module in model.named_modules()
                                if next(module.children(), None) is None]
    shape = _full_shape(model, input_shape)
    if graph:
        model._observe = _graph_hook(model, rows)
    try:
        model.eval()
        with no_grad():
            x = zeros(*shape, device=device)
            model(x.long() if graph and model.input_dtype(model.input_names[0]) == "int64" else x)
    finally:
        for handle in handles:
            handle.remove()
        if graph:
            del model._observe
        for module, training in modes:
            module.training = training
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return Summary(rows, total, trainable, shape)
