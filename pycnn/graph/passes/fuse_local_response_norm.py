"""Local response normalisation fusion: PyTorch's exporter writes ``nn.LocalResponseNorm`` (F.local_response_norm)
as a dozen ops; this pass puts one ``LRN`` node, pycnn's kernel, in their place:

    x -> Mul(x, x) (or Pow(x, 2)) -> Reshape to (N, 1, C, ..., -1) (or Unsqueeze at axis 1, for 3-d x)
      -> Pad of the channel axis (axis 2) by (b, size - 1 - b) zeros, in one Pad or several
      -> AveragePool with kernel (size, 1, ...), strides 1, no pads
      -> Squeeze of axis 1 (or If(dim 1 == 1, then Squeeze of axis 1, else Identity), opset 13 on)
      -> Reshape back to x's shape (absent for 3-d x)
      -> Mul(alpha) -> Add(k) -> Pow(beta) -> Div(x, that)

is y = x / (k + alpha / size * sum of x^2 over the channels [c - b, c - b + size - 1]) ^ beta: ONNX's LRN
with ``bias`` k, and ``window_before`` b (an attribute only this pass writes: PyTorch's window starts
size // 2 before the channel, ONNX's (size - 1) // 2 before, which differ for even sizes). When the
exporter baked x's shape into the reshapes (it does), the LRN node keeps it as ``input_shape`` (-1:
any size) and refuses another shape, as the Reshapes would have. The dynamo exporter writes no Reshape
back (the squeezed pool output has x's shape already).

The Div is replaced; the nodes of the pattern that nothing else reads go, with the Shape -> Gather ->
Equal chain of the If's condition. A pattern that differs anywhere (a non-zero pad value, a pool over
another axis, a stride, an alpha that is not one constant, a reshape that moves the channels) is left
as it is, and runs op by op. Runs after ``fold_constants`` (it reads the folded constants and kinds).
"""
import numpy as np

from ..ir import CONSTANT, DYNAMIC, Node


def _constant(ir, name):
    return np.asarray(ir.constants[name]) if name and ir.kinds.get(name) == CONSTANT else None


def _scalar(ir, name):
    value = _constant(ir, name)
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 and value.dtype.kind in "fiu" \
        else None


def _split_constant(ir, node):
    """(the network input, the one-value constant) of a binary node, either order, or None."""
    if len(node.inputs) != 2:
        return None
    for data, other in ((0, 1), (1, 0)):
        value = _scalar(ir, node.inputs[other])
        if value is not None and ir.kinds.get(node.inputs[data]) == DYNAMIC:
            return node.inputs[data], value
    return None


def _axes(ir, node):
    """Squeeze's or Unsqueeze's axes: the attribute before opset 13, the constant input from."""
    if node.opset < 13:
        axes = node.attr("axes")
        return None if axes is None else [int(a) for a in axes]
    value = _constant(ir, node.inputs[1]) if len(node.inputs) > 1 else None
    return None if value is None else [int(a) for a in value.reshape(-1)]


def _branch_squeezes_axis_1(branch, source):
    """True when the If branch's one output is Squeeze(source, axes=[1]) (axes from a Constant in it)."""
    if len(branch.outputs) != 1:
        return False
    made = {out: node for node in branch.nodes for out in node.outputs}
    squeeze = made.get(branch.outputs[0])
    if squeeze is None or squeeze.op != "Squeeze" or squeeze.inputs[0] != source:
        return False
    if squeeze.opset < 13:
        return list(squeeze.attr("axes") or []) == [1]
    axes = branch.initializers.get(squeeze.inputs[1]) if len(squeeze.inputs) > 1 else None
    if axes is None and len(squeeze.inputs) > 1 and squeeze.inputs[1] in made:
        constant = made[squeeze.inputs[1]]
        axes = constant.attr("value") if constant.op == "Constant" else None
    return axes is not None and np.asarray(axes).reshape(-1).tolist() == [1]


def _squeezed(ir, producer, name):
    """The AveragePool output that ``name`` is with its axis 1 squeezed away, or None."""
    node = producer.get(name)
    if node is None:
        return None
    if node.op == "Squeeze" and _axes(ir, node) == [1]:
        return node.inputs[0]
    if node.op == "If" and len(set(node.inputs[1:])) == 1 and len(node.outputs) == 1:
        source = node.inputs[1]  # the outer value the branches read (listed once for each)
        if _branch_squeezes_axis_1(node.attrs["then_branch"], source):
            return source  # axis 1 of the pool's output has size 1: the condition holds
    return None


def _pool_size(node):
    """The window of an AveragePool over axis 2 alone (kernel (size, 1, ...), strides 1, no pads), or None."""
    kernel = list(node.attr("kernel_shape") or [])
    ones = lambda key: all(int(v) == 1 for v in node.attr(key, [1]))  # noqa: E731
    if not kernel or any(int(k) != 1 for k in kernel[1:]) or not ones("strides") or not ones("dilations"):
        return None
    if any(int(p) != 0 for p in node.attr("pads", [0])) or node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return None
    return int(kernel[0])


def _channel_pads(ir, node, rank):
    """(before, after) of a constant zero Pad on axis 2 alone of a rank-``rank`` value, or None."""
    from ...onnx.ops.pad import _pad_arguments  # the Pad import's own reading of attributes and inputs

    if node.attr("mode", "constant") != "constant":
        return None
    inputs = [None] + [_constant(ir, name) if name else None for name in node.inputs[1:]]
    if any(name and value is None for name, value in zip(node.inputs[1:], inputs[1:])):
        return None  # pads, value or axes computed at run time
    try:
        pads, value = _pad_arguments(node, inputs, rank)
    except (ValueError, TypeError, IndexError):
        return None
    if value != 0 or any(p != 0 for i, p in enumerate(pads) if i % rank != 2):
        return None
    return pads[2], pads[2 + rank]


def _match(ir, producer, div):
    """The LRN attributes and the input x of the pattern ending in ``div``, or None."""
    if div.op != "Div" or len(div.inputs) != 2 or div.opset < 7:  # opset < 7: legacy broadcast attributes
        return None
    x = div.inputs[0]
    power = producer.get(div.inputs[1])
    if power is None or power.op != "Pow" or _scalar(ir, power.inputs[1]) is None:
        return None
    beta = _scalar(ir, power.inputs[1])
    add = producer.get(power.inputs[0])
    add_parts = _split_constant(ir, add) if add is not None and add.op == "Add" and add.opset >= 7 else None
    if add_parts is None:
        return None
    mul = producer.get(add_parts[0])
    mul_parts = _split_constant(ir, mul) if mul is not None and mul.op == "Mul" and mul.opset >= 7 else None
    if mul_parts is None:
        return None
    name, input_shape = mul_parts[0], None
    back = producer.get(name)
    if back is not None and back.op == "Reshape" and _constant(ir, back.inputs[1]) is not None:
        input_shape = [int(d) for d in _constant(ir, back.inputs[1]).reshape(-1)]
        name = back.inputs[0]
    pooled = _squeezed(ir, producer, name)
    pool = producer.get(pooled) if pooled else None
    size = _pool_size(pool) if pool is not None and pool.op == "AveragePool" else None
    if size is None:
        return None
    rank = len(pool.attr("kernel_shape")) + 2
    before = after = 0
    node = producer.get(pool.inputs[0])
    while node is not None and node.op == "Pad":
        pads = _channel_pads(ir, node, rank)
        if pads is None:
            return None
        before, after = before + pads[0], after + pads[1]
        node = producer.get(node.inputs[0])
    if node is None or before + after != size - 1 or before < 0 or after < 0:
        return None
    if node.op == "Reshape":
        target = _constant(ir, node.inputs[1])
        target = None if target is None else [int(d) for d in target.reshape(-1)]
        if target is not None and input_shape is None:  # no Reshape back (the dynamo exporter's): the
            input_shape = target[:1] + target[2:]  # squeezed pool output is x's shape
        # (N, 1, C, ...) from an x of shape input_shape = (N, C, ...): the channels stay whole on axis 2
        if target is None or len(target) != rank or target[1] != 1 or len(input_shape) < 3 or \
                target[0] != input_shape[0] or target[2] != input_shape[1] or min(input_shape[:2]) < 1 or \
                any(d < 1 and d != -1 for d in input_shape):
            return None
    elif node.op == "Unsqueeze":
        if _axes(ir, node) != [1] or input_shape is not None:
            return None
    else:
        return None
    square = producer.get(node.inputs[0])
    if square is None or not ((square.op == "Mul" and square.inputs == [x, x]) or
                              (square.op == "Pow" and square.inputs[0] == x and _scalar(ir, square.inputs[1]) == 2)):
        return None
    attrs = {"size": size, "alpha": mul_parts[1], "beta": beta, "bias": add_parts[1], "window_before": before}
    if input_shape is not None:
        attrs["input_shape"] = input_shape
    return attrs, x, [div, power, add, mul, back, producer.get(mul_parts[0]), pool, node, square]


def _drop_dead(ir, candidates):
    """Removes the candidate nodes (and, in turn, their producers) whose outputs nothing reads."""
    readers = ir.readers()
    producer = ir.producers()
    gone = set()
    work = list(candidates)
    while work:
        node = work.pop()
        if id(node) in gone or any(out in ir.outputs or readers.get(out) for out in node.outputs):
            continue
        gone.add(id(node))
        for name in node.inputs:
            if name in readers:
                readers[name] = [n for n in readers[name] if n is not node]
                if name in producer:
                    work.append(producer[name])
    ir.nodes = [n for n in ir.nodes if id(n) not in gone]


def fuse_local_response_norm(ir):
    """Rewrites each PyTorch LocalResponseNorm pattern of ``ir`` into one LRN node (see the module
    docstring) and returns how many it rewrote."""
    producer = ir.producers()
    fused = 0
    for node in [n for n in ir.nodes if n.op == "Div"]:
        if ir.kinds.get(node.outputs[0]) != DYNAMIC or not any(n is node for n in ir.nodes):
            continue
        found = _match(ir, producer, node)
        if found is None:
            continue
        attrs, x, pattern = found
        lrn = Node(node.name, "LRN", node.opset, attrs, [x], list(node.outputs))
        ir.nodes = [lrn if n is node else n for n in ir.nodes]
        _drop_dead(ir, [n for n in pattern if n is not None and n is not node])
        producer = ir.producers()
        fused += 1
    return fused
