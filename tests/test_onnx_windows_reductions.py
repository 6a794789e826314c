"""Issue 12: 1-d Conv and pools over (N, C, L) (run as 2-d over (N, C, 1, L)) and ReduceSum/ReduceMax/
ReduceMin, forward and backward against PyTorch in float64 on odd sizes, strides, pads, dilations,
groups."""
import numpy as np
import pytest

pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_torch import run_both  # noqa: E402

F = torch.nn.functional


@pytest.mark.parametrize("stride,pads,dilation,groups", [(1, (0, 0), 1, 1), (2, (1, 2), 1, 1), (3, (2, 2), 2, 3),
                                                         (1, (3, 0), 3, 6)])
def test_conv1d_matches_torch(stride, pads, dilation, groups):
    rng = np.random.default_rng(stride + dilation)
    x = rng.standard_normal((2, 6, 23)).astype(np.float32)
    w = rng.standard_normal((12, 6 // groups, 4)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)

    def torch_conv(t, wt, bt):
        return F.conv1d(F.pad(t, pads), wt, bt, stride, 0, dilation, groups)

    run_both("Conv", [x, w, b], torch_conv, {"strides": [stride], "pads": list(pads), "dilations": [dilation],
                                             "group": groups, "kernel_shape": [4]})


def test_conv1d_auto_pad_same_upper():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 10)).astype(np.float32)
    w = rng.standard_normal((4, 3, 4)).astype(np.float32)
    run_both("Conv", [x, w], lambda t, wt: F.conv1d(F.pad(t, (1, 2)), wt), {"auto_pad": "SAME_UPPER"})


@pytest.mark.parametrize("ceil", [0, 1])
def test_pools_1d_match_torch(ceil):
    rng = np.random.default_rng(ceil)
    x = rng.standard_normal((2, 3, 17)).astype(np.float32)
    attrs = {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": ceil}
    run_both("MaxPool", [x], lambda t: F.max_pool1d(t, 3, 2, 1, ceil_mode=bool(ceil)), attrs)
    run_both("AveragePool", [x], lambda t: F.avg_pool1d(t, 3, 2, 1, ceil_mode=bool(ceil), count_include_pad=False),
             attrs)
    run_both("GlobalAveragePool", [x], lambda t: t.mean(-1, keepdim=True))
    run_both("GlobalMaxPool", [x], lambda t: t.amax(-1, keepdim=True))


@pytest.mark.parametrize("op,fn", [("ReduceSum", torch.sum), ("ReduceMax", torch.amax), ("ReduceMin", torch.amin)])
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([0, 2], 0), (None, 1), ([-1, 1], 0)])
@pytest.mark.parametrize("opset", [11, 18])
def test_reductions_match_torch(op, fn, axes, keepdims, opset):
    x = np.random.default_rng(9).standard_normal((3, 5, 7)).astype(np.float32)
    dims = tuple(range(3)) if axes is None else tuple(axes)
    attrs = {"keepdims": keepdims}
    initializers = {}
    if axes is not None and (opset >= 18 or (op == "ReduceSum" and opset >= 13)):
        initializers = {"axes": np.array(axes, np.int64)}
    elif axes is not None:
        attrs["axes"] = axes
    run_both(op, [x], lambda t, *_: fn(t, dim=dims, keepdim=bool(keepdims)), attrs, opset=opset,
             initializers=initializers)
