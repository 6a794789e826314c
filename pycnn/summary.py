"""summary(model, input_shape): a layer-by-layer table of output shapes, parameters and MACs.

One forward pass of a zeros batch of one image, in eval mode and without gradients, with a forward
hook on every leaf module (a module without children). Each call of a leaf gives one row, so a
module used twice (ResNet's BasicBlock calls its ``relu`` twice) has two rows; its parameters are
shown on the first. Operations done functionally inside a module's ``forward`` (DenseNet's final
relu, torch.cat) have no module and so no row. Totals count every parameter of the model, including
those of modules this input did not reach (GoogLeNet's auxiliary heads in eval mode).

Multiply-accumulates (MACs): a Conv2d costs out.numel() * (in_channels / groups) * kh * kw, a Linear
out.numel() * in_features (biases excluded); every other layer counts 0. A FLOP count is about
twice the MAC count.
"""
import numbers
from dataclasses import dataclass

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

    input_shape: the shape of one sample without the batch dimension, e.g. (3, 224, 224). The model
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
    # A model without children (a bare layer) is its own single leaf.
    handles = [module.register_forward_hook(record(name or type(module).__name__))
               for name, module in model.named_modules()
               if next(module.children(), None) is None]
    shape = (1,) + tuple(int(s) for s in input_shape)
    try:
        model.eval()
        with no_grad():
            model(zeros(*shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return Summary(rows, total, trainable, shape)
