"""One-node (or small) ONNX graphs run by pycnn against PyTorch in float64, forward and backward.

    close(got, want, what, tol)                          -> asserts a relative error below tol
    random_window_3d(rng, max_stride, sizes)             -> a random 3-d convolution's channels and window
    run_both(op, arrays, torch_fn, attrs, opset, ...)    -> the graph's output and input gradients vs torch
    check_export(model, path, x)                         -> pycnn's export checked, run by onnxruntime, read back
    check_torch_export(net, x, opset, gradients)         -> torch's export imported: onnxruntime's output and
                                                            torch's input gradient (relative errors returned)

A test file imports this module after ``pytest.importorskip("onnx")`` and ``importorskip("torch")``.
"""
import contextlib

import numpy as np
import torch
from helpers.onnx_builders import make_initializer, make_model, make_node

import pycnn
import pycnn.onnx


def random_window_3d(rng, max_stride, sizes):
    """A random 3-d convolution's (groups, input channels, output channels, kernel, strides, dilations,
    spatial size): groups 1-3, 1-2 channels a group, kernel 1-3, strides 1..max_stride, dilations 1-2,
    each spatial size drawn from ``sizes`` (low, high exclusive)."""
    groups = int(rng.choice([1, 2, 3]))
    c, m = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    draw = [[int(v) for v in rng.integers(low, high, size=3)] for low, high in ((1, 4), (1, max_stride + 1), (1, 3),
                                                                                sizes)]
    return (groups, c, m, *draw)


def relative_error(got, want):
    """max |got - want| over max |want| (floored at 1e-6)."""
    want = np.asarray(want, dtype=np.float64)
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    return float(np.abs(np.asarray(got, dtype=np.float64) - want).max(initial=0.0)) / scale


def close(got, want, what, tol=2e-5):
    """float32 results against float64 ones, relative to the scale of ``want``."""
    err = relative_error(got, want)
    assert err < tol, f"{what}: relative error {err:.3g}"


def run_both(op, arrays, torch_fn, attrs=None, opset=17, initializers=None, order=None):
    """The one-node graph ``op`` on ``arrays`` (graph inputs x0, x1...; gradients checked) and
    ``initializers`` (constants), in the node's input ``order`` (default: inputs, then initializers),
    against ``torch_fn`` of float64 tensors (inputs, then initializers): the output and each input's
    gradient."""
    initializers = initializers or {}
    names = [f"x{i}" for i in range(len(arrays))]
    node = make_node(op, order or names + list(initializers), ["y"], **(attrs or {}))
    model = make_model([node], [make_initializer(k, v) for k, v in initializers.items()],
                       {n: list(a.shape) for n, a in zip(names, arrays)}, opset)
    graph = pycnn.onnx.load(model.SerializeToString())
    xs = [pycnn.tensor(a, requires_grad=True) for a in arrays]
    y = graph(*xs)
    upstream = np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(upstream))
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    consts = [torch.tensor(v.astype(np.float64) if v.dtype.kind == "f" else v) for v in initializers.values()]
    yt = torch_fn(*ts, *consts)
    yt.backward(torch.tensor(upstream, dtype=torch.float64))
    assert tuple(y.shape) == tuple(yt.shape)
    close(y.numpy(), yt.detach().numpy(), f"{op} forward")
    for i, (x, t) in enumerate(zip(xs, ts)):
        close(x.grad.numpy(), t.grad.numpy(), f"{op} gradient of input {i}")



def check_export(model, path, x):
    """``model`` exported to ``path`` (at x's shape with batch 1) passes onnx's full check, and onnxruntime
    and pycnn's own import of the file give the model's output on ``x``."""
    import onnx
    from helpers.onnx_builders import run_onnxruntime

    ours = model(pycnn.tensor(x)).numpy()
    path = pycnn.onnx.export(model, path, (1,) + tuple(x.shape[1:]))
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    np.testing.assert_allclose(run_onnxruntime(path, x)[0], ours, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pycnn.onnx.load(str(path))(pycnn.tensor(x)).numpy(), ours, rtol=1e-4, atol=1e-5)


def _kink_inputs(data, x):
    """The input of each kink node (helpers.branch_replay.ONNX_KINKS) of the ONNX file ``data`` when pycnn
    runs it on ``x``, in node order: the branch pycnn's float32 forward took at every kink."""
    import onnx
    from helpers.branch_replay import ONNX_KINKS

    model = onnx.load_from_string(data)
    kinks = [n.input[0] for n in model.graph.node if n.op_type in ONNX_KINKS]
    model.graph.output.extend(onnx.helper.make_value_info(name, onnx.TypeProto()) for name in kinks)
    outs = pycnn.onnx.load(model.SerializeToString())(pycnn.tensor(x))
    return [o.numpy() for o in (outs[1:] if isinstance(outs, tuple) else ())]


def _torch_input_gradient(net, x, dtype, reference, decisions=None):
    """(the input gradient of the output's sum, the kink inputs recorded) of ``net`` in ``dtype`` inside
    ``reference()``, on the branch ``decisions`` says (None: its own)."""
    import copy

    from helpers.branch_replay import Replay

    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    with reference(), Replay(decisions) as mode:
        out = copy.deepcopy(net).to(dtype)(xt)
    out.sum().backward()
    return xt.grad.numpy().astype(np.float64), mode.recorded


def check_torch_export(net, x, opset, gradients=True, tol=1e-4, grad_tol=1e-3, dynamo=False,
                       reference=contextlib.nullcontext, branch=False):
    """``net`` (a torch Module) exported by PyTorch at ``opset`` and imported by pycnn: its output on ``x``
    against onnxruntime's (relative error below ``tol``) and, with ``gradients``, the input gradient of
    the output's sum against torch's in float64 (below ``grad_tol``), run inside ``reference()`` (a context
    manager: where the exported graph computes another function than torch's, the patch that makes torch
    compute the graph's). Returns (graph, output error, gradient error).

    branch: the float64 gradient is taken on the branch pycnn's float32 forward took at every ReLU,
    clip, hard sigmoid/swish and max-pool (helpers.branch_replay; the file's kink nodes must pair with
    torch's kink calls, in order and shape): in a deep network at random weights a unit within float32
    rounding of a kink flips in any float32 engine (torch's included) and moves the plain float64
    comparison by 1e-3 and more. The gradient error returned is then (on pycnn's branch, plain)."""
    import io

    from helpers.onnx_builders import run_onnxruntime

    buffer = io.BytesIO()
    torch.onnx.export(net, (torch.tensor(x),), buffer, dynamo=dynamo, opset_version=opset)
    graph = pycnn.onnx.load(buffer.getvalue())
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    out_err = relative_error(y.numpy(), run_onnxruntime(buffer.getvalue(), x)[0])
    assert out_err < tol, f"output vs onnxruntime: relative error {out_err:.3g}"
    grad_err = None
    if gradients:  # against torch in float64: the exact gradient, not another float32 rounding of it
        y.sum().backward()
        g64, _ = _torch_input_gradient(net, x.astype(np.float64), torch.float64, reference)
        grad_err = relative_error(xp.grad.numpy(), g64)
        if branch:
            decisions = _kink_inputs(buffer.getvalue(), x)
            _, calls = _torch_input_gradient(net, x, torch.float32, reference)
            assert [d.shape for d in decisions] == [c.shape for c in calls], (
                f"the file's {len(decisions)} kink nodes do not pair with torch's {len(calls)} kink calls")
            g64, _ = _torch_input_gradient(net, x.astype(np.float64), torch.float64, reference, decisions)
            grad_err = (relative_error(xp.grad.numpy(), g64), grad_err)
        assert (grad_err[0] if branch else grad_err) < grad_tol, f"input gradient vs torch: relative error {grad_err}"
    return graph, out_err, grad_err
