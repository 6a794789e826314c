"""``export``: any pycnn Module as an ONNX file, by recording one forward pass.

While the model runs on an example input, ``pycnn.autograd.tracer`` sees every op once, with the
normalised arguments its autograd Function received (strides as pairs, padding resolved, ...), and
appends the matching ONNX node; parameters and buffers become initializers under their
``named_parameters`` names, other tensors the forward pass made (constants) become initializers too.
The batch dimension is exported as the symbolic 'N'. The model is traced in eval mode (dropout off,
batch norm on running statistics) and its modes are restored afterwards.
"""
import numpy as np

from .. import autograd
from ..autograd import no_grad
from ..tensor import tensor
from ._proto import require_onnx, write_bytes

MIN_EXPORT_OPSET, MAX_EXPORT_OPSET = 13, 21


class OnnxExportError(ValueError):
    """A model pycnn cannot write as ONNX; the message names every op that stopped it."""


def _pool_out(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= size + p:  # torch: the last window must start inside the input
        out -= 1
    return out


class _Tracer:
    def __init__(self, opset, named_tensors):
        self.opset = opset
        self.nodes, self.initializers, self.errors = [], {}, []
        self.names = {}
        self.keep = []  # every traced tensor stays alive so that ids are not reused mid-trace
        self.named = {id(t): (name, t) for name, t in named_tensors}
        self.counter = 0

    # ----- values -------------------------------------------------------------------------------
    def fresh(self, stem):
        self.counter += 1
        return f"{stem}_{self.counter}"

    def name_of(self, t):
        if t is None:
            return ""
        key = id(t)
        if key in self.names:
            return self.names[key]
        if key in self.named:
            name, _ = self.named[key]
        else:
            name = self.fresh("const")
        self.names[key] = name
        self.keep.append(t)
        self.initializers[name] = np.array(t.numpy(), copy=True)
        return name

    def const(self, array, stem="const"):
        name = self.fresh(stem)
        self.initializers[name] = np.asarray(array)
        return name

    def node(self, op, inputs, out=None, **attrs):
        from onnx import helper

        if out is None:
            out_name = self.fresh(op)
        else:
            out_name = self.fresh(op)
            self.names[id(out)] = out_name
            self.keep.append(out)
        self.nodes.append(helper.make_node(op, inputs, [out_name], name=out_name, **attrs))
        return out_name

    # ----- the hook -----------------------------------------------------------------------------
    def __call__(self, cls, args, kwargs, out):
        emit = getattr(self, "emit_" + cls.__name__, None)
        if emit is None:
            self.errors.append(f"{cls.__name__} (no ONNX equivalent in pycnn's exporter)")
            self.names[id(out)] = self.fresh("unsupported")
            self.keep.append(out)
            return
        try:
            emit(out, *args, **kwargs)
        except OnnxExportError as error:
            self.errors.append(str(error))
            self.names[id(out)] = self.fresh("unsupported")
            self.keep.append(out)

    def emit_Conv2dFunction(self, out, x, w, b, stride, padding, dilation, groups):
        inputs = [self.name_of(x), self.name_of(w)] + ([self.name_of(b)] if b is not None else [])
        self.node("Conv", inputs, out, kernel_shape=list(w.shape[2:]), strides=list(stride),
                  pads=[padding[0], padding[1], padding[0], padding[1]], dilations=list(dilation), group=groups)

    def emit_LinearFunction(self, out, x, w, b):
        if x.ndim == 2:
            inputs = [self.name_of(x), self.name_of(w)] + ([self.name_of(b)] if b is not None else [])
            self.node("Gemm", inputs, out, transB=1)
            return
        wt = self.node("Transpose", [self.name_of(w)], perm=[1, 0])
        if b is None:
            self.node("MatMul", [self.name_of(x), wt], out)
        else:
            self.node("Add", [self.node("MatMul", [self.name_of(x), wt]), self.name_of(b)], out)

    def emit_BinaryFunction(self, out, a, b, op):
        self.node(op.capitalize(), [self.name_of(a), self.name_of(b)], out)

    def emit_ReshapeFunction(self, out, x, shape):
        shape = list(shape)
        if shape and x.ndim and shape[0] == x.shape[0]:
            shape[0] = 0  # ONNX Reshape: 0 copies the input's dimension, so any batch size works
        self.node("Reshape", [self.name_of(x), self.const(np.asarray(shape, dtype=np.int64), "shape")], out)

    def emit_SumFunction(self, out, x, scale):
        total = self.node("ReduceSum", [self.name_of(x)], keepdims=0)
        self.node("Mul", [total, self.const(np.asarray(scale, dtype=np.float32))], out)

    def emit_ToDeviceFunction(self, out, x, device):
        self.names[id(out)] = self.name_of(x)
        self.keep.append(out)

    def _floor_pads(self, x, kernel, stride, padding, dilation, ceil):
        """ONNX pads reproducing torch's output size without ceil_mode: extra end padding covers the
        windows ceil_mode adds (onnxruntime and torch disagree on ceil_mode's last window)."""
        pads_begin, pads_end = list(padding), list(padding)
        for i in range(2):
            size = x.shape[2 + i]
            want = _pool_out(size, kernel[i], stride[i], padding[i], dilation[i], ceil)
            span = dilation[i] * (kernel[i] - 1) + 1
            # the least end padding that fits `want` windows; below the kernel because torch's last
            # window starts inside the input or the begin padding
            pads_end[i] = max(padding[i], (want - 1) * stride[i] + span - size - padding[i])
        return pads_begin + pads_end, pads_end != list(padding)

    def emit_MaxPool2dFunction(self, out, x, kernel, stride, padding, dilation, ceil_mode, indices_out=None):
        pads, _ = self._floor_pads(x, kernel, stride, padding, dilation, ceil_mode)
        self.node("MaxPool", [self.name_of(x)], out, kernel_shape=list(kernel), strides=list(stride), pads=pads,
                  dilations=list(dilation))

    def emit_AvgPool2dFunction(self, out, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor):
        if divisor is not None:
            raise OnnxExportError("avg_pool2d with divisor_override has no ONNX equivalent")
        pads, overhang = self._floor_pads(x, kernel, stride, padding, (1, 1), ceil_mode)
        if overhang and count_include_pad and any(padding):
            raise OnnxExportError("avg_pool2d with ceil_mode, padding and count_include_pad=True divides the "
                                  "last windows by a count ONNX cannot express")
        include = count_include_pad and not overhang
        self.node("AveragePool", [self.name_of(x)], out, kernel_shape=list(kernel), strides=list(stride),
                  pads=pads, count_include_pad=int(include))

    def emit_AdaptiveAvgPool2dFunction(self, out, x, output_size):
        h, w = x.shape[2:]
        oh, ow = output_size
        if (oh, ow) == (1, 1):
            self.node("GlobalAveragePool", [self.name_of(x)], out)
        elif h % oh == 0 and w % ow == 0:
            self.node("AveragePool", [self.name_of(x)], out, kernel_shape=[h // oh, w // ow],
                      strides=[h // oh, w // ow])
        else:
            raise OnnxExportError(f"adaptive_avg_pool2d from {h}x{w} to {oh}x{ow} has overlapping windows, "
                                  "which ONNX cannot express")

    def emit_ReluFunction(self, out, x):
        self.node("Relu", [self.name_of(x)], out)

    def emit_SigmoidFunction(self, out, x):
        self.node("Sigmoid", [self.name_of(x)], out)

    def emit_TanhFunction(self, out, x):
        self.node("Tanh", [self.name_of(x)], out)

    def emit_LeakyReluFunction(self, out, x, slope):
        self.node("LeakyRelu", [self.name_of(x)], out, alpha=float(slope))

    def emit_EluFunction(self, out, x, alpha):
        self.node("Elu", [self.name_of(x)], out, alpha=float(alpha))

    def emit_SiluFunction(self, out, x):
        name = self.name_of(x)
        self.node("Mul", [name, self.node("Sigmoid", [name])], out)

    def emit_HardsigmoidFunction(self, out, x):  # relu6(x + 3) / 6 = HardSigmoid(alpha=1/6, beta=1/2)
        self.node("HardSigmoid", [self.name_of(x)], out, alpha=1.0 / 6.0, beta=0.5)

    def emit_HardswishFunction(self, out, x):
        name = self.name_of(x)
        if self.opset >= 14:  # HardSwish is an ONNX op from opset 14
            self.node("HardSwish", [name], out)
            return
        self.node("Mul", [name, self.node("HardSigmoid", [name], alpha=1.0 / 6.0, beta=0.5)], out)

    def emit_GeluFunction(self, out, x, approximate):
        name = self.name_of(x)
        if self.opset >= 20:  # Gelu is an ONNX op from opset 20
            self.node("Gelu", [name], out, approximate=approximate)
            return
        f32 = lambda v, stem: self.const(np.asarray(v, dtype=np.float32), stem)  # noqa: E731
        if approximate == "none":  # x * (1 + erf(x / sqrt2)) / 2
            erf = self.node("Erf", [self.node("Mul", [name, f32(np.sqrt(0.5), "inv_sqrt2")])])
            cdf = self.node("Mul", [self.node("Add", [erf, f32(1.0, "one")]), f32(0.5, "half")])
        else:  # x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)), the tanh form without cancellation
            cube = self.node("Mul", [self.node("Mul", [name, name]), name])
            inner = self.node("Add", [name, self.node("Mul", [cube, f32(0.044715, "kappa")])])
            cdf = self.node("Sigmoid", [self.node("Mul", [inner, f32(2.0 * np.sqrt(2.0 / np.pi), "two_beta")])])
        self.node("Mul", [name, cdf], out)

    def emit_SoftplusFunction(self, out, x, beta, threshold):
        name = self.name_of(x)
        # ONNX Softplus is log(1 + e^x) with neither beta nor threshold. Past x = 20 log1p(e^-x) is under
        # half an ulp of x, so torch's default threshold changes nothing in float32.
        if beta == 1.0 and threshold >= 20.0:
            self.node("Softplus", [name], out)
            return
        scaled = self.node("Mul", [name, self.const(np.asarray(beta, dtype=np.float32), "beta")])
        soft = self.node("Div", [self.node("Softplus", [scaled]), self.const(np.asarray(beta, dtype=np.float32), "beta")])
        above = self.node("Greater", [scaled, self.const(np.asarray(threshold, dtype=np.float32), "threshold")])
        self.node("Where", [above, name, soft], out)

    def emit_ClipFunction(self, out, x, lo, hi):
        low = "" if lo == -np.inf else self.const(np.asarray(lo, dtype=np.float32), "min")
        high = "" if hi == np.inf else self.const(np.asarray(hi, dtype=np.float32), "max")
        self.node("Clip", [self.name_of(x), low, high], out)

    emit_HardtanhFunction = emit_ClipFunction  # same forward; the gradient rule is not exported

    def emit_PreluFunction(self, out, x, w):
        slope = self.name_of(w)
        if x.ndim > 2 and w.numel() > 1:  # ONNX broadcasts from the right: (C,) must become (C, 1, 1)
            shape = self.const(np.asarray([w.numel()] + [1] * (x.ndim - 2), dtype=np.int64), "shape")
            slope = self.node("Reshape", [slope, shape])
        self.node("PRelu", [self.name_of(x), slope], out)

    def emit_SoftmaxFunction(self, out, x, dim):
        self.node("Softmax", [self.name_of(x)], out, axis=int(dim))

    def emit_LogSoftmaxFunction(self, out, x, dim):
        self.node("LogSoftmax", [self.name_of(x)], out, axis=int(dim))

    def emit_BatchNormFunction(self, out, x, mean, var, w, b, training, momentum, eps):
        if training or mean is None:
            raise OnnxExportError("batch_norm on batch statistics (training mode) is not exported; call "
                                  "model.eval() semantics apply to modules, this was a functional call")
        c = x.shape[1]
        scale = self.name_of(w) if w is not None else self.const(np.ones(c, np.float32), "scale")
        bias = self.name_of(b) if b is not None else self.const(np.zeros(c, np.float32), "bias")
        self.node("BatchNormalization", [self.name_of(x), scale, bias, self.name_of(mean), self.name_of(var)],
                  out, epsilon=float(eps), momentum=float(1.0 - momentum))

    def emit_LocalResponseNormFunction(self, out, x, size, before, alpha, beta, k):
        if before != (size - 1) // 2:
            raise OnnxExportError(f"local_response_norm with size {size} and torch's window (window_before="
                                  f"{before}) differs from ONNX LRN's window for even sizes; use "
                                  f"window_before={(size - 1) // 2}")
        self.node("LRN", [self.name_of(x)], out, size=int(size), alpha=float(alpha), beta=float(beta), bias=float(k))

    def emit_DropoutFunction(self, out, x, p, seed):
        raise OnnxExportError("dropout ran in training mode during export")

    def emit_CatFunction(self, out, *xs, dim):
        self.node("Concat", [self.name_of(x) for x in xs], out, axis=int(dim))

    def emit_TransposeFunction(self, out, x, perm):
        self.node("Transpose", [self.name_of(x)], out, perm=list(perm))

    def emit_ExtremumFunction(self, out, *xs, largest):
        self.node("Max" if largest else "Min", [self.name_of(x) for x in xs], out)

    def emit_PadFunction(self, out, x, crop, widths, value, mode):
        if mode == "wrap" and self.opset < 19:
            raise OnnxExportError(f"Pad mode 'wrap' needs opset 19 or later, exporting opset {self.opset}")
        begins = [b - c.start for (b, _), c in zip(widths, crop)]
        ends = [e - (size - c.stop) for (_, e), c, size in zip(widths, crop, x.shape)]
        inputs = [self.name_of(x), self.const(np.asarray(begins + ends, dtype=np.int64), "pads")]
        if mode == "constant":
            inputs.append(self.const(np.asarray(value, dtype=np.float32), "value"))
        self.node("Pad", inputs, out, mode=mode)


def _value_info(name, shape, batch):
    from onnx import TensorProto, helper

    dims = ["N" if i == 0 and d == batch else d for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def export(model, path, input_shape, opset=17):
    """Writes ``model`` to ``path`` as ONNX (the default opset 17; 13 to 21) and returns ``path``.

    input_shape: one example batch, e.g. (1, 3, 224, 224); its first dimension is exported as the
    dynamic batch 'N'. The file passes onnx.checker's full check and is written atomically."""
    onnx = require_onnx()
    from onnx import helper, numpy_helper

    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_EXPORT_OPSET <= opset <= MAX_EXPORT_OPSET:
        raise ValueError(f"export: expected opset between {MIN_EXPORT_OPSET} and {MAX_EXPORT_OPSET}, got {opset!r}")
    shape = tuple(input_shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0 for d in shape):
        raise ValueError(f"export: expected input_shape to be positive ints like (1, 3, 224, 224), got {input_shape!r}")
    params = list(model.named_parameters()) + list(model.named_buffers())
    device = params[0][1].device if params else "cpu"
    x = tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), device=device)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    tracer = _Tracer(opset, params)
    tracer.names[id(x)] = "input"
    tracer.keep.append(x)
    autograd.tracer = tracer
    try:
        with no_grad():
            out = model(x)
    finally:
        autograd.tracer = None
        for module, mode in modes:
            object.__setattr__(module, "training", mode)
    if tracer.errors:
        raise OnnxExportError("export: cannot write these ops as ONNX:\n  " + "\n  ".join(tracer.errors))
    outs = out if isinstance(out, tuple) else (out,)
    out_names = ["output"] if len(outs) == 1 else [f"output_{i}" for i in range(len(outs))]
    rename = {}
    nodes = tracer.nodes
    for t, name in zip(outs, out_names):
        value = tracer.names.get(id(t))
        if value is None or value == "input" or value in rename or value in tracer.initializers:
            nodes.append(helper.make_node("Identity", [tracer.name_of(t)], [name], name=name))
        else:
            rename[value] = name
    for node in nodes:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    used = {n for node in nodes for n in node.input}
    initializers = [numpy_helper.from_array(v, name) for name, v in tracer.initializers.items() if name in used]
    graph = helper.make_graph(nodes, "pycnn", [_value_info("input", shape, shape[0])],
                              [_value_info(n, tuple(t.shape), shape[0]) for n, t in zip(out_names, outs)],
                              initializers)
    proto = helper.make_model(graph, producer_name="pycnn", opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 8 if opset <= 17 else 9 if opset <= 19 else 10)
    onnx.checker.check_model(proto, full_check=True)
    write_bytes(path, proto.SerializeToString())
    return path
