"""``load``: an ONNX file becomes a trainable :class:`Graph` Module; ``check``: what pycnn supports in it.

Import runs in three passes over the nodes in topological order:
1. validate everything and collect every problem (unknown op or attribute, missing value, cycle,
   bad tensor data) so that one error lists them all;
2. classify each value: an activation (computed from the graph input), a weight (a float initializer
   feeding a weight slot: a Parameter, or a buffer for batch-norm statistics), a constant (folded at
   import: Constant, ConstantOfShape, Reshape/Unsqueeze/Concat/Gather... of constants) or a shape
   (computed on the host from an activation's shape at run time: Shape -> Gather -> Concat -> Reshape
   chains, so that any batch size works);
3. keep only the nodes that reach a graph output; what remains is the network.
"""
import math
import re

import numpy as np

from ..nn import Module, Parameter
from ..tensor import Tensor, tensor
from ..nn import functional as F
from . import _host, _ops
from ._proto import DTYPE_NAMES, OnnxImportError, default_opset, parse_model, tensor_to_numpy

# Opsets 22 to 25 changed only the types the imported ops accept (bfloat16, float8, int4...), and
# Cast's new round_mode attribute is refused as unknown, so their files import with the same semantics.
MIN_OPSET, MAX_OPSET = 7, 25
_FOLD_ERRORS = (ValueError, TypeError, IndexError, OverflowError, MemoryError, OnnxImportError)


def _problem(node, message):
    if node is None:
        return {"node": "", "op": "", "opset": None, "message": message}
    return {"node": node.name, "op": node.op, "opset": node.opset, "message": message}


def _sanitize(name, taken, owner):
    """A Python identifier for ``name`` that no other weight and no attribute of ``owner`` (a Module:
    forward, training, parameters, ...) has."""
    base = re.sub(r"[^0-9A-Za-z_]", "_", name) or "param"
    if base[0].isdigit():
        base = "p_" + base
    candidate, k = base, 1
    while candidate in taken or hasattr(owner, candidate):
        candidate, k = f"{base}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _dtype_name(array):
    return {"float64": "double"}.get(array.dtype.name, array.dtype.name)


def _to_layout(array, layout):
    """A numpy weight in the layout pycnn's kernel takes: 'transposed' (a 2-d (in, out) MatMul/Gemm
    weight as Linear's (out, in)), 'vector' (a Gemm bias: a (1, N) row as (N,); any other shape
    broadcasts as it is); None when it cannot be."""
    if layout == "transposed":
        return np.ascontiguousarray(array.T) if array.ndim == 2 else None
    if layout == "vector":
        return array.reshape(-1) if array.ndim == 2 and array.shape[0] == 1 else array
    return array


def _tensor_to_layout(x, layout, node, index):
    """:func:`_to_layout` for a value the network computes (a MatMul of two activations)."""
    if layout == "transposed":
        if x.ndim != 2:
            raise ValueError(f"{node.op} {node.name!r}: input {index} ({node.inputs[index]!r}) is computed by the "
                             f"network with shape {tuple(x.shape)}; pycnn multiplies by a computed matrix only "
                             "when it is 2-d")
        return _host.transpose(x, (1, 0))
    if layout == "vector" and x.ndim == 2 and x.shape[0] == 1:
        return F.reshape(x, (x.shape[1],))
    return x


def _from_layout(array, layout, onnx_shape):
    if layout == "transposed":
        return np.ascontiguousarray(array.T)
    return array.reshape(onnx_shape)


class _Parsed:
    """The validated pieces of a model (pass 1)."""

    def __init__(self, model, base_dir):
        self.opset = default_opset(model)
        self.problems = []
        self.ir_version = model.ir_version
        g = model.graph
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            self.problems.append(_problem(None, f"opset {self.opset} is not supported (pycnn imports opsets "
                                                f"{MIN_OPSET} to {MAX_OPSET})"))
        self.initializers = {}
        for t in g.initializer:
            if t.name in self.initializers:
                self.problems.append(_problem(None, f"initializer {t.name!r} is given twice"))
                continue
            try:
                self.initializers[t.name] = tensor_to_numpy(t, base_dir)
            except OnnxImportError as error:
                self.problems.append(_problem(None, str(error)))
        if len(g.sparse_initializer):
            self.problems.append(_problem(None, "sparse initializers are not supported"))
        self.inputs = [i for i in g.input if i.name not in self.initializers]
        self.input_names = [i.name for i in self.inputs]
        for name in sorted({n for n in self.input_names if self.input_names.count(n) > 1}):
            self.problems.append(_problem(None, f"graph input {name!r} is declared twice"))
        for i in self.inputs:
            elem = i.type.tensor_type.elem_type if i.type.HasField("tensor_type") else None
            if elem is None and i.type.WhichOneof("value") is not None:
                self.problems.append(_problem(None, f"graph input {i.name!r} is a {i.type.WhichOneof('value')}, "
                                                    "not a tensor"))
            elif elem not in (None, 0, 1):
                self.problems.append(_problem(None, f"graph input {i.name!r} is {DTYPE_NAMES.get(elem, elem)}; pycnn "
                                                    "computes in float32"))
        self.output_names = [o.name for o in g.output]
        if not self.input_names:
            self.problems.append(_problem(None, "the graph has no input"))
        if not self.output_names:
            self.problems.append(_problem(None, "the graph has no output"))
        self.nodes = []
        names = set()
        for index, proto in enumerate(g.node):
            name = proto.name or f"{proto.op_type}_{index}"
            while name in names:
                name = f"{name}_{index}"
            names.add(name)
            try:
                attrs = _ops.read_attributes(proto, base_dir)
            except OnnxImportError as error:
                attrs = {}
                self.problems.append(_problem(_ops.Node(name, proto.op_type, self.opset, {}, [], []), str(error)))
            node = _ops.Node(name, proto.op_type, self.opset, attrs, list(proto.input), list(proto.output))
            self.nodes.append(node)
            if proto.domain not in ("", "ai.onnx"):
                self.problems.append(_problem(node, f"domain {proto.domain!r} is not supported (only the "
                                                    "default ONNX domain)"))
            elif proto.op_type not in _ops.OPS:
                self.problems.append(_problem(node, f"op {proto.op_type} is not supported"))
        self._sort()
        used = set(self.output_names)
        for node in self.nodes:
            used.update(node.inputs)
        for node in self.nodes:
            op = _ops.OPS.get(node.op)
            if op is not None and node.attrs is not None:
                for message in op.check(node, [o in used for o in node.outputs]):
                    self.problems.append(_problem(node, message))

    def _sort(self):
        """Kahn's algorithm; reports values nobody produces, duplicate producers and cycles."""
        producer = {}
        for node in self.nodes:
            for out in node.outputs:
                if out in producer or out in self.initializers or out in self.input_names:
                    self.problems.append(_problem(node, f"output {out!r} is produced twice"))
                producer[out] = node
        known = set(self.initializers) | set(self.input_names) | {""}
        waiting = {}
        ready = []
        for node in self.nodes:
            deps = set()
            for name in node.inputs:
                if name in known:
                    continue
                if name not in producer:
                    self.problems.append(_problem(node, f"input {name!r} is neither a graph input, an "
                                                        "initializer nor any node's output (missing initializer?)"))
                    continue
                deps.add(name)
            waiting[node.name] = deps
            if not deps:
                ready.append(node)
        consumers = {}
        for node in self.nodes:
            for name in waiting[node.name]:
                consumers.setdefault(name, []).append(node)
        order = []
        while ready:
            node = ready.pop()
            order.append(node)
            for out in node.outputs:
                for consumer in consumers.pop(out, ()):
                    deps = waiting[consumer.name]
                    deps.discard(out)
                    if not deps:
                        ready.append(consumer)
        if len(order) != len(self.nodes):
            stuck = [n.name for n in self.nodes if n not in order]
            self.problems.append(_problem(None, f"the graph has a cycle (or depends on one) through nodes "
                                                f"{', '.join(stuck[:10])}{' ...' if len(stuck) > 10 else ''}"))
        self.nodes = order if len(order) == len(self.nodes) else self.nodes
        for out in self.output_names:
            if out not in producer and out not in self.input_names and out not in self.initializers:
                self.problems.append(_problem(None, f"graph output {out!r} is not produced by any node"))


def _in_node(error, node):
    """``error`` with the node, its op and opset in front of its message, as the same exception type
    where that type takes a message alone (ValueError otherwise)."""
    where = f"node {node.name!r} ({node.op}, opset {node.opset}): "
    message = str(error) if str(error).startswith(where) else where + str(error)
    try:
        return type(error)(message)
    except Exception:  # an exception type with another constructor
        return ValueError(message)


class Graph(Module):
    """A network imported from ONNX. Call it with one Tensor per graph input; it returns the graph
    output (a tuple when there are several). Weights are Parameters named after their initializers
    (non-identifier characters become '_'); ``onnx_names`` maps each back to its ONNX value."""

    def __init__(self, parsed):
        super().__init__()
        self.opset = parsed.opset
        self.input_names = list(parsed.input_names)
        self.output_names = list(parsed.output_names)
        self._input_dims = {i.name: [d.dim_value if d.HasField("dim_value") else None
                                     for d in i.type.tensor_type.shape.dim] for i in parsed.inputs}
        self.onnx_names = {}
        self._consts = {}
        self._plan = []
        self._build(parsed)

    # ----- construction -----------------------------------------------------------------------
    def _build(self, parsed):
        problems = []
        inits = parsed.initializers
        kind = {name: "dynamic" for name in self.input_names}
        kind.update({name: "const" for name in inits})
        consts = dict(inits)
        weights = {}  # (value name, layout) -> parameter or buffer name
        taken = set()
        steps = []
        for node in parsed.nodes:
            op = _ops.OPS[node.op]
            static = op.static_inputs(node)
            in_kinds = [kind.get(name, "const") if name else None for name in node.inputs]
            if node.op == "CastLike" and len(in_kinds) > 1:
                in_kinds[1] = "const"  # only its type is read, and a network value is float32
            data_kinds = [k for i, k in enumerate(in_kinds) if k is not None and i not in static]
            for i, k in enumerate(in_kinds):
                if i in static and k == "dynamic":
                    problems.append(_problem(node, f"input {i} ({node.inputs[i]!r}) must be a constant or "
                                                   "computed from shapes, but it depends on the network's values"))
            if op.run is not None and any(k == "dynamic" for k in in_kinds):
                known = [consts.get(name) if name and kind.get(name) == "const" else None for name in node.inputs]
                problems += [_problem(node, message) for message in op.check_consts(node, known)]
                for i, name in enumerate(node.inputs):
                    value = consts.get(name) if name and i not in static and kind.get(name) == "const" else None
                    if value is not None and value.dtype != np.float32:
                        problems.append(_problem(node, f"input {i} ({name!r}) is {_dtype_name(value)}; pycnn computes "
                                                       "in float32 (the model should Cast it)"))
            host_only = op.run is None
            # A float initializer reshaped or transposed on its way to a weight slot (PRelu's (C,1,1)
            # slope, a transposed MatMul weight) stays a Parameter: the op runs in the network.
            weight_chain = not host_only and node.op != "Identity" and any(
                name in inits and inits[name].dtype == np.float32
                for i, name in enumerate(node.inputs) if name and i not in static)
            if node.op == "Shape":
                out_kind = "const" if in_kinds[0] == "const" else "shape"
            elif host_only or (op.host is not None and not weight_chain
                               and all(k in ("const", "shape") for k in data_kinds)):
                if any(k == "dynamic" for k in in_kinds if k is not None):
                    problems.append(_problem(node, f"{node.op} on the network's values is not supported "
                                                   "(only on constants and shapes)"))
                    continue
                out_kind = "const" if all(k == "const" for k in in_kinds if k is not None) else "shape"
            else:
                out_kind = "dynamic"
            if out_kind == "const":
                try:
                    values = op.host(node, [consts.get(n) if n else None for n in node.inputs])
                except _FOLD_ERRORS as error:
                    problems.append(_problem(node, f"folding failed: {error}"))
                    continue
                for name, value in zip(node.outputs, values):
                    consts[name], kind[name] = np.asarray(value), "const"
                continue
            for name in node.outputs:
                kind[name] = out_kind
            if out_kind == "dynamic":
                layouts = op.weights(node)
                for i, name in enumerate(node.inputs):
                    if not name or i in static or kind.get(name) != "const":
                        continue
                    value = consts[name]
                    if value.dtype != np.float32:
                        continue
                    if i in op.buffers:
                        layout = "buffer"
                    elif name not in inits:
                        continue  # a folded constant (e.g. the zero bias an exporter made) stays one
                    elif i in layouts:
                        layout = layouts[i]
                    elif value.ndim >= 1:
                        layout = "as_is"
                    else:
                        continue
                    key = (name, layout)
                    if key not in weights:
                        stored = _to_layout(value, "as_is" if layout == "buffer" else layout)
                        if stored is None:
                            problems.append(_problem(node, f"weight {name!r} of shape {value.shape} has a layout "
                                                           f"pycnn cannot use here"))
                            continue
                        pname = _sanitize(name, taken, self)
                        if layout == "buffer":
                            self.register_buffer(pname, tensor(stored.copy()))
                        else:
                            self.register_parameter(pname, Parameter(stored.copy()))
                        self.onnx_names[pname] = (name, layout, tuple(value.shape))
                        weights[key] = pname
            steps.append((node, out_kind))
        if problems:
            raise OnnxImportError(f"pycnn cannot load this model ({len(problems)} problems)", problems)
        self._weights = weights
        self._weight_sources = {name for name, _ in weights}
        # Keep only what reaches an output (drops the aliases and shape chains the network never uses).
        needed = set(self.output_names)
        kept = []
        for node, out_kind in reversed(steps):
            if any(o in needed for o in node.outputs):
                kept.append((node, out_kind))
                needed.update(n for n in node.inputs if n)
        kept.reverse()
        self._consts = {n: consts[n] for n in needed if n in consts and kind.get(n) == "const"}
        self._plan = kept
        self._refresh_last_use()

    def _refresh_last_use(self):
        last = {}
        for index, (node, _) in enumerate(self._plan):
            for name in node.inputs:
                last[name] = index
        keep = set(self.output_names) | set(self._consts)
        self._free_after = [[n for n in set(node.inputs) if n and last.get(n) == i and n not in keep]
                            for i, (node, _) in enumerate(self._plan)]

    # ----- running ----------------------------------------------------------------------------
    def _value(self, node, index, name, values, device, as_tensor):
        if not name:
            return None
        layout = None
        if node is not None:
            op = _ops.OPS[node.op]
            layout = "buffer" if index in op.buffers else op.weights(node).get(index)
        if name in values:
            value = values[name]
            return _tensor_to_layout(value, layout, node, index) if layout and isinstance(value, Tensor) else value
        if name in self._weight_sources:
            pname = self._weights.get((name, layout or "as_is"))
            if pname is not None:
                return getattr(self, pname)
        value = self._consts[name]
        if not as_tensor:
            return value
        cache = self.__dict__.setdefault("_const_tensors", {})
        key = (name, layout, device)
        if key not in cache:
            stored = _to_layout(value, layout)
            if stored is None:
                raise ValueError(f"{node.op} {node.name!r}: constant {name!r} of shape {value.shape} has a layout "
                                 f"pycnn cannot use here ({layout})")
            cache[key] = tensor(stored.astype(np.float32) if stored.dtype != np.float32 else stored, device=device)
        return cache[key]

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise ValueError(f"Graph: expected {len(self.input_names)} input(s) ({', '.join(self.input_names)}), "
                             f"got {len(inputs)}")
        values = {}
        device = "cpu"
        for name, x in zip(self.input_names, inputs):
            if not isinstance(x, Tensor):
                x = tensor(x)
            dims = self._input_dims.get(name) or []
            if dims and (x.ndim != len(dims) or any(d not in (None, 0) and d != s
                                                    for d, s in list(zip(dims, x.shape))[1:])):
                raise ValueError(f"Graph: input {name!r} has shape {tuple(x.shape)}, the model declares "
                                 f"{tuple('N' if d in (None, 0) else d for d in dims)}")
            values[name] = x
            device = x.device
        for (node, kind), free in zip(self._plan, self._free_after):
            op = _ops.OPS[node.op]
            static = op.static_inputs(node)
            try:
                if kind == "shape":
                    xs = [self._value(node, i, n, values, device, False) for i, n in enumerate(node.inputs)]
                    outs = op.host(node, xs)
                else:
                    xs = [self._value(node, i, n, values, device, i not in static) for i, n in enumerate(node.inputs)]
                    outs = op.run(node, xs, self.training)
            except (ValueError, TypeError, IndexError, OverflowError, RuntimeError) as error:
                raise _in_node(error, node) from None
            for name, out in zip(node.outputs, outs):
                values[name] = out
            for name in free:
                values.pop(name, None)
        results = tuple(values[n] if n in values else self._value(None, 0, n, values, device, True)
                        for n in self.output_names)
        return results[0] if len(results) == 1 else results

    # ----- introspection for transfer learning and parity -------------------------------------
    def layers(self):
        """[(node name, op, [parameter names])] for each node holding Parameters, in network order."""
        out = []
        for node, kind in self._plan:
            names = [self._weights[(n, lay)] for (n, lay) in self._weights
                     if n in node.inputs and lay != "buffer"]
            params = [p for p in dict.fromkeys(names) if p in self._parameters]
            if params:
                out.append((node.name, node.op, params))
        return out

    def node(self, name):
        for node, _ in self._plan:
            if node.name == name:
                return node
        raise KeyError(f"Graph: no node named {name!r}")

    def replace_head(self, num_classes):
        """Gives the classifier a new output size: finds the last Gemm, MatMul or 1x1 Conv feeding the
        output (through Flatten, Reshape, pooling, Relu, Dropout; a trailing Softmax or LogSoftmax is
        dropped, so the graph returns logits), replaces its weight and bias with freshly initialised
        Parameters for ``num_classes`` outputs and returns the head node's name."""
        from .. import nn

        if len(self.output_names) != 1:
            raise ValueError(f"replace_head: expected a graph with one output, got {self.output_names}")
        producer = {out: node for node, _ in self._plan for out in node.outputs}
        node = producer.get(self.output_names[0])
        if node is not None and node.op in ("Softmax", "LogSoftmax"):
            self._plan = [(n, k) for n, k in self._plan if n is not node]
            self.output_names = [node.inputs[0]]
            node = producer.get(node.inputs[0])
        path = []
        while node is not None and node.op in ("Flatten", "Reshape", "Identity", "Dropout", "GlobalAveragePool",
                                               "AveragePool", "Squeeze", "Unsqueeze", "Relu"):
            path.append(node)
            node = producer.get(node.inputs[0])
        weight_key = next(((n, lay) for (n, lay) in self._weights if node is not None and len(node.inputs) > 1
                           and n == node.inputs[1] and lay != "buffer"), None)
        is_1x1 = node is not None and node.op == "Conv" and weight_key is not None and \
            tuple(getattr(self, self._weights[weight_key]).shape[2:]) == (1, 1)
        if node is None or weight_key is None or not (node.op in ("Gemm", "MatMul") or is_1x1):
            found = "nothing" if node is None else f"{node.op} {node.name!r}"
            raise ValueError(f"replace_head: no Gemm, MatMul or 1x1 Conv with a weight feeds the output "
                             f"(walking back from it reached {found})")
        old = getattr(self, self._weights[weight_key])
        old_classes = old.shape[0]
        if node.op == "Conv":
            fresh = nn.Conv2d(old.shape[1] * node.attr("group", 1), num_classes, 1, groups=node.attr("group", 1))
        else:
            fresh = nn.Linear(old.shape[1], num_classes)
        pname = self._weights[weight_key]
        self._parameters[pname] = fresh.weight
        name, layout, shape = self.onnx_names[pname]
        self.onnx_names[pname] = (name, layout, (shape[0], num_classes) if layout == "transposed"
                                  else tuple(fresh.weight.shape))
        bias_key = next(((n, lay) for (n, lay) in self._weights if len(node.inputs) > 2
                         and n == node.inputs[2] and lay != "buffer"), None)
        if bias_key is not None:
            bname = self._weights[bias_key]
            self._parameters[bname] = fresh.bias
            bshape = self.onnx_names[bname][2]
            self.onnx_names[bname] = (bias_key[0], bias_key[1], tuple(bshape[:-1]) + (num_classes,))
        elif len(node.inputs) > 2 and node.inputs[2] in self._consts:  # a constant bias the exporter made
            self._consts[node.inputs[2]] = np.zeros(num_classes, dtype=np.float32)
            self.__dict__.pop("_const_tensors", None)
        for step in path:
            target = step.inputs[1] if step.op == "Reshape" and len(step.inputs) > 1 else None
            if target in self._consts and self._consts[target].size and self._consts[target][-1] == old_classes:
                self._consts[target] = np.concatenate([self._consts[target][:-1], [num_classes]]).astype(np.int64)
        self._refresh_last_use()
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
            out[name] = _from_layout(value.numpy(), layout, shape)
        return out

    def extra_repr(self):
        ops = {}
        for node, _ in self._plan:
            ops[node.op] = ops.get(node.op, 0) + 1
        return (f"opset={self.opset}, inputs={self.input_names}, outputs={self.output_names}, nodes="
                + ", ".join(f"{k} x{v}" for k, v in ops.items()))


def load(source):
    """An ONNX model (a path or the file's bytes) as a trainable :class:`Graph`.

    Raises OnnxImportError (a ValueError) listing every unsupported node, op and attribute at once,
    and for files that are not valid ONNX; FileNotFoundError for a missing path."""
    model, base_dir = parse_model(source)
    parsed = _Parsed(model, base_dir)
    if parsed.problems:
        raise OnnxImportError(f"pycnn cannot load this model ({len(parsed.problems)} problems; pycnn supports "
                              f"{', '.join(sorted(_ops.OPS))})", parsed.problems)
    return _graph(parsed)


def _graph(parsed):
    try:
        return Graph(parsed)
    except OnnxImportError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, MemoryError) as error:
        raise OnnxImportError(f"pycnn cannot load this model: {type(error).__name__}: {error}") from None


class CheckReport:
    """What :func:`check` found: ``problems`` (every unsupported node, op or attribute, as in
    OnnxImportError), ``nodes`` (one dict per node: name, op, opset, role, cpu, cuda) and ``runs``
    (device -> 'forward and backward ok' or the error), ``ok`` when the model loads and runs."""

    def __init__(self, path, opset, problems, nodes, runs):
        self.path, self.opset, self.problems, self.nodes, self.runs = path, opset, problems, nodes, runs

    @property
    def ok(self):
        return not self.problems and all(r.startswith("forward and backward ok") or r.startswith("skipped")
                                         for r in self.runs.values())

    def __str__(self):
        from ._proto import _problem_line

        lines = [f"{self.path}: opset {self.opset}, {len(self.nodes)} nodes, "
                 f"{len(self.problems)} unsupported"]
        for p in self.problems:
            lines.append("  UNSUPPORTED " + _problem_line(p))
        if self.nodes:
            width = max(len(n["name"]) for n in self.nodes)
            lines.append(f"  {'node':<{width}}  {'op':<18} {'role':<9} {'cpu':<22} cuda")
            for n in self.nodes:
                lines.append(f"  {n['name']:<{width}}  {n['op']:<18} {n['role']:<9} {n['cpu']:<22} {n['cuda']}")
        for device, result in self.runs.items():
            lines.append(f"  run on {device}: {result}")
        return "\n".join(lines)


MAX_CHECK_ELEMENTS = 1 << 24  # check's trial input: 64 MiB of float32 at most


def _example_shape(graph):
    dims = graph._input_dims.get(graph.input_names[0]) or []
    return [d or 1 for d in dims] or None


def _try_run(graph, device):
    from .. import cuda

    if device == "cuda" and not cuda.is_available():
        return "skipped (no CUDA device here)"
    if len(graph.input_names) != 1:
        return "skipped (the graph has several inputs)"
    shape = _example_shape(graph)
    if shape is None:
        return "skipped (the input shape is not declared)"
    if math.prod(shape) > MAX_CHECK_ELEMENTS:
        return (f"skipped (the declared input {tuple(shape)} is larger than {MAX_CHECK_ELEMENTS} elements; run it "
                "yourself)")
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    try:
        graph.to(device).eval()
        out = graph(tensor(x, device=device))
        out = out[0] if isinstance(out, tuple) else out
        (out * 1.0).sum().backward()
        graph.zero_grad()
        return f"forward and backward ok (input {tuple(x.shape)} -> output {tuple(out.shape)})"
    except Exception as error:  # the report states what failed instead of stopping at it
        return f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        graph.to("cpu")


def check(source, run=True):
    """A :class:`CheckReport` for an ONNX model without raising for unsupported content: every
    unsupported node at once, the role of every other node (network op, folded constant, shape
    computed on the host) and where its forward and backward run; with ``run``, one forward and
    backward pass on a random input on the CPU and, when present, on CUDA."""
    from .. import _C

    path = source if isinstance(source, str) else "<bytes>"
    model, base_dir = parse_model(source)
    parsed = _Parsed(model, base_dir)
    problems = list(parsed.problems)
    graph = None
    if not problems:
        try:
            graph = _graph(parsed)
        except OnnxImportError as error:
            problems = error.problems or [_problem(None, str(error))]
    bad = {p["node"] for p in problems}
    roles = {}
    if graph is not None:
        roles = {node.name: ("network" if kind == "dynamic" else "shape") for node, kind in graph._plan}
    cuda_built = _C.built_with_cuda()
    nodes = []
    for node in parsed.nodes:
        if node.name in bad:
            role, cpu, gpu = "UNSUPPORTED", "-", "-"
        elif node.name not in roles:
            role, cpu, gpu = ("folded", "at import", "at import") if graph is not None else ("?", "?", "?")
        elif roles[node.name] == "shape":
            role, cpu, gpu = "shape", "host (numpy)", "host (numpy)"
        else:
            role = "network"
            cpu = "forward+backward"
            if node.op in _ops.HOST_TENSOR_OPS:
                cpu, gpu = "forward+backward (host)", "forward+backward (host copy)"
            else:
                gpu = "forward+backward" if cuda_built else "not built with CUDA"
        nodes.append({"name": node.name, "op": node.op, "opset": node.opset, "role": role, "cpu": cpu, "cuda": gpu})
    runs = {}
    if graph is not None and run:
        runs = {"cpu": _try_run(graph, "cpu"), "cuda": _try_run(graph, "cuda")}
    return CheckReport(path, parsed.opset, problems, nodes, runs)
