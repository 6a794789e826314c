"""The :class:`Graph` Module: a network imported from ONNX (see pycnn.onnx.load), run by
pycnn.graph's executor, with what transfer learning and parity checks need (``layers``,
``replace_head``, ``onnx_arrays``)."""
import numpy as np

from ..graph import execute, passes
from ..nn import Conv2d, Linear, Module
from ..tensor import Tensor, describe_non_tensor, tensor
from .ops import IMPORTERS
from .weights import from_layout, op_input

# The ops replace_head walks back through from the output to the classifier.
_HEAD_PASSTHROUGH = ("Flatten", "Reshape", "Identity", "Dropout", "GlobalAveragePool", "AveragePool", "Squeeze",
                     "Unsqueeze", "Relu")


class Graph(Module):
    """A network imported from ONNX. Call it with one Tensor per graph input; it returns the graph
    output (a tuple when there are several). Weights are Parameters named after their initializers
    (non-identifier characters become '_'); ``onnx_names`` maps each back to its ONNX value."""

    def __init__(self, ir, opset, input_dims):
        """``ir``: the model's pycnn.graph.GraphIR, which pycnn.onnx.load runs the passes on and binds the
        weights of; ``input_dims``: {input name: declared dims, None where symbolic}."""
        super().__init__()
        self.opset = opset
        self.input_names = list(ir.inputs)
        self._input_dims = input_dims
        self.onnx_names = {}  # parameter or buffer name -> (ONNX value name, layout, ONNX shape)
        self._ir = ir
        self._weights = {}  # (ONNX value name, layout) -> parameter or buffer name

    @property
    def output_names(self):
        return self._ir.outputs

    @property
    def _plan(self):
        """[(node, kind)] in running order; kind "dynamic" (a network op) or "shape" (host numpy)."""
        return [(node, self._ir.kind_of(node)) for node in self._ir.nodes]

    # ----- running ----------------------------------------------------------------------------
    def _read(self, name, layout, values, device, as_tensor):
        """The value ``name`` in ``layout``: computed (in ``values``), a weight, or a constant (a Tensor
        on ``device`` when ``as_tensor``, cached)."""
        if name in values:
            return op_input(values[name], layout, as_tensor, device)
        attribute = self._weights.get((name, layout or "as_is"))
        if attribute is not None:
            return getattr(self, attribute)
        value = self._ir.constants[name]
        if not as_tensor:
            return value
        cache = self.__dict__.setdefault("_const_tensors", {})
        key = (name, layout, device)
        if key not in cache:
            cache[key] = op_input(value, layout, True, device)
        return cache[key]

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise ValueError(f"Graph: expected {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                             f"got {len(inputs)}")
        values = {}
        device = "cpu"
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, Tensor):  # the rule of every Module, as in torch: Tensors in
                raise TypeError(f"Graph: expected input {name!r} to be a pycnn.Tensor, got {describe_non_tensor(x)}")
            dims = self._input_dims.get(name) or []
            if dims and (x.ndim != len(dims) or any(d not in (None, 0) and d != s
                                                    for d, s in list(zip(dims, x.shape))[1:])):
                raise ValueError(f"Graph: input {name!r} has shape {tuple(x.shape)}, the model declares "
                                 f"{tuple('N' if d in (None, 0) else d for d in dims)}")
            values[name] = self._input_value(name, x)
            device = x.device

        def read_input(node, index, values, as_tensor):
            name = node.inputs[index]
            if not name:
                return None
            layout = IMPORTERS[node.op].layout_of(node, index)
            return self._read(name, layout, values, device, as_tensor)

        values = execute(self._ir, IMPORTERS, values, read_input, self.training,
                         self.__dict__.get("_observe"))  # pycnn.summary sets _observe for one pass
        results = tuple(self._output(name, values, device) for name in self.output_names)
        return results[0] if len(results) == 1 else results

    def input_dtype(self, name):
        """The dtype of the Tensor the graph takes for input ``name``: "int64" for an integer or bool input
        of the model (computed on the host in its ONNX type), "float32" otherwise."""
        return "int64" if name in self._ir.host_inputs else "float32"

    def _input_value(self, name, x):
        """The value of graph input ``name``: an integer input (``ir.host_inputs``) as a numpy array of its
        ONNX type, for the host (the Tensor must be int64, pycnn's integer dtype); a float one as it is
        (float32: a double or float16 input is computed in float32, as ``load`` warns)."""
        host_dtype = self._ir.host_inputs.get(name)
        if host_dtype is None:  # (an int64 Tensor here is refused by the first op that reads it, by name)
            return x
        if x.dtype != "int64":
            raise TypeError(f"Graph: input {name!r} is {np.dtype(host_dtype).name} in the model (integer data such "
                            f"as indices), got a {x.dtype} Tensor; make it with pycnn.tensor(integer array)")
        array = x.to("cpu").numpy()
        value = array.astype(host_dtype)
        if not np.array_equal(value.astype(np.int64), array):
            raise ValueError(f"Graph: input {name!r} holds values outside the range of its type "
                             f"{np.dtype(host_dtype).name} (from {array.min()} to {array.max()})")
        return value

    def _output(self, name, values, device):
        """A graph output as a Tensor: a shape computed on the host keeps its integer type (int64;
        bools as 0/1), a constant output is float32 as every constant the network reads."""
        value = values.get(name)
        if isinstance(value, np.ndarray):
            return tensor(value.astype(np.int64) if value.dtype.kind in "biu" else value.astype(np.float32),
                          device=device)
        return self._read(name, None, values, device, True)

    # ----- introspection for transfer learning and parity -------------------------------------
    def layers(self):
        """[(node name, op, [parameter names])] for each node holding Parameters, in network order."""
        out = []
        for node in self._ir.nodes:
            names = [self._weights[(n, lay)] for (n, lay) in self._weights
                     if n in node.inputs and lay != "buffer"]
            params = [p for p in dict.fromkeys(names) if p in self._parameters]
            if params:
                out.append((node.name, node.op, params))
        return out

    def node_parameters(self, node):
        """The names of the Parameters ``node`` reads (buffers such as running statistics excluded)."""
        names = [attr for (value, layout), attr in self._weights.items()
                 if value in node.inputs and layout != "buffer" and attr in self._parameters]
        return list(dict.fromkeys(names))

    def node(self, name):
        for node in self._ir.nodes:
            if node.name == name:
                return node
        raise KeyError(f"Graph: no node named {name!r}")

    def _weight_key(self, node, index):
        """The (value, layout) key of the Parameter that input ``index`` of ``node`` reads, or None."""
        return next(((n, lay) for (n, lay) in self._weights if len(node.inputs) > index
                     and n == node.inputs[index] and lay != "buffer"), None)

    def replace_head(self, num_classes):
        """Gives the classifier a new output size: finds the last Gemm, MatMul or 1x1 Conv feeding the
        output (through Flatten, Reshape, pooling, Relu, Dropout; a trailing Softmax or LogSoftmax is
        dropped, so the graph returns logits), replaces its weight and bias with freshly initialised
        Parameters for ``num_classes`` outputs and returns the head node's name."""
        ir = self._ir
        if len(ir.outputs) != 1:
            raise ValueError(f"replace_head: expected a graph with one output, got {ir.outputs}")
        producer = ir.producers()
        node = producer.get(ir.outputs[0])
        if node is not None and node.op in ("Softmax", "LogSoftmax"):
            ir.nodes = [n for n in ir.nodes if n is not node]
            ir.outputs = [node.inputs[0]]
            node = producer.get(node.inputs[0])
        path = []
        while node is not None and node.op in _HEAD_PASSTHROUGH:
            path.append(node)
            node = producer.get(node.inputs[0])
        weight_key = self._weight_key(node, 1) if node is not None else None
        is_1x1 = node is not None and node.op == "Conv" and weight_key is not None and \
            tuple(getattr(self, self._weights[weight_key]).shape[2:]) == (1, 1)
        if node is None or weight_key is None or not (node.op in ("Gemm", "MatMul") or is_1x1):
            found = "nothing" if node is None else f"{node.op} {node.name!r}"
            raise ValueError(f"replace_head: no Gemm, MatMul or 1x1 Conv with a weight feeds the output "
                             f"(walking back from it reached {found})")
        old = getattr(self, self._weights[weight_key])
        old_classes = old.shape[0]
        if node.op == "Conv":
            fresh = Conv2d(old.shape[1] * node.attr("group", 1), num_classes, 1, groups=node.attr("group", 1))
        else:
            fresh = Linear(old.shape[1], num_classes)
        pname = self._weights[weight_key]
        self._parameters[pname] = fresh.weight
        name, layout, shape = self.onnx_names[pname]
        self.onnx_names[pname] = (name, layout, (shape[0], num_classes) if layout == "transposed"
                                  else tuple(fresh.weight.shape))
        bias_key = self._weight_key(node, 2)
        if bias_key is not None:
            bname = self._weights[bias_key]
            self._parameters[bname] = fresh.bias
            bshape = self.onnx_names[bname][2]
            self.onnx_names[bname] = (bias_key[0], bias_key[1], tuple(bshape[:-1]) + (num_classes,))
        elif len(node.inputs) > 2 and node.inputs[2] in ir.constants:  # a constant bias the exporter made
            ir.constants[node.inputs[2]] = np.zeros(num_classes, dtype=np.float32)
            self.__dict__.pop("_const_tensors", None)
        for step in path:
            target = step.inputs[1] if step.op == "Reshape" and len(step.inputs) > 1 else None
            if target in ir.constants and ir.constants[target].size and ir.constants[target][-1] == old_classes:
                ir.constants[target] = np.concatenate([ir.constants[target][:-1], [num_classes]]).astype(np.int64)
        passes.plan_memory(ir)
        return node.name

    def onnx_arrays(self, grads=False):
        """{ONNX value name: numpy array in the ONNX layout} of every weight (its gradient when
        ``grads``; weights without a gradient are left out)."""
        out = {}
        for pname, (name, layout, shape) in self.onnx_names.items():
            value = getattr(self, pname)
            if grads:
                if value.grad is None:
                    continue
                value = value.grad
            out[name] = from_layout(value.numpy(), layout, shape)
        return out

    def extra_repr(self):
        ops = {}
        for node in self._ir.nodes:
            ops[node.op] = ops.get(node.op, 0) + 1
        return (f"opset={self.opset}, inputs={self.input_names}, outputs={self.output_names}, nodes="
                + ", ".join(f"{k} x{v}" for k, v in ops.items()))
