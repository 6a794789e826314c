"""One-node (or small) ONNX graphs run by pycnn against PyTorch in float64, forward and backward.

    close(got, want, what, tol)                          -> asserts a relative error below tol
    run_both(op, arrays, torch_fn, attrs, opset, ...)    -> the graph's output and input gradients vs torch
    check_export(model, path, x)                         -> pycnn's export checked, run by onnxruntime, read back
    check_torch_export(net, x, opset, gradients)         -> torch's export imported: onnxruntime's output and
                                                            torch's input gradient (relative errors returned)

A test file imports this module after ``pytest.importorskip("onnx")`` and ``importorskip("torch")``.
"""
import numpy as np
import torch
from helpers.onnx_builders import make_initializer, make_model, make_node

import pycnn
import pycnn.onnx


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


def check_torch_export(net, x, opset, gradients=True, tol=1e-4, grad_tol=1e-3, dynamo=False):
    """``net`` (a torch Module) exported by PyTorch at ``opset`` and imported by pycnn: its output on ``x``
    against onnxruntime's (relative error below ``tol``) and, with ``gradients``, the input gradient of
    the output's sum against torch's in float64 (below ``grad_tol``). Returns (graph, output error, gradient error)."""
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
        import copy

        y.sum().backward()
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        copy.deepcopy(net).double()(xt).sum().backward()
        grad_err = relative_error(xp.grad.numpy(), xt.grad.numpy())
        assert grad_err < grad_tol, f"input gradient vs torch: relative error {grad_err:.3g}"
    return graph, out_err, grad_err
