"""Issue 12: 1-d Conv and pools over (N, C, L) (run as 2-d over (N, C, 1, L)), ReduceSum/ReduceMax/
ReduceMin, Slice/Split/Gather on any axis, Expand and Tile, forward and backward against PyTorch in
float64 on odd sizes, strides, pads, dilations, groups, negative steps and indices."""
import numpy as np
import pytest

pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from helpers.onnx_builders import make_initializer, make_model, make_node  # noqa: E402
from helpers.onnx_torch import close, run_both  # noqa: E402

import pycnn  # noqa: E402
import pycnn.onnx  # noqa: E402

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


@pytest.mark.parametrize("starts,ends,axes,steps", [([1], [4], [1], None), ([-1, 0], [-6, 9], [2, 0], [-2, 3]),
                                                    ([5, 2], [-100, 1 << 62], [-1, 1], [-1, 1]),
                                                    ([0, 1, 2], [2, 5, 7], None, [1, 2, 2])])
@pytest.mark.parametrize("opset", [9, 13])
def test_slice_on_any_axis_with_any_step_matches_numpy_and_torch_gradient(starts, ends, axes, steps, opset):
    if opset < 10 and steps is not None:
        return  # opsets 1-9 have no steps
    x = np.random.default_rng(10).standard_normal((3, 5, 7)).astype(np.float32)
    full_axes = list(range(len(starts))) if axes is None else [a % 3 for a in axes]
    key = [slice(None)] * 3
    for s, e, a, st in zip(starts, ends, full_axes, steps or [1] * len(starts)):
        key[a] = slice(s, e, st)  # Python's slice clamps as ONNX does
    index = [torch.tensor(np.arange(3 * 5 * 7).reshape(3, 5, 7)[tuple(key)].reshape(-1))]

    def torch_slice(t, *_):
        return t.reshape(-1)[index[0]].reshape(np.zeros((3, 5, 7))[tuple(key)].shape)

    if opset < 10:
        attrs = {"starts": starts, "ends": ends, **({"axes": axes} if axes is not None else {})}
        run_both("Slice", [x], torch_slice, attrs, opset=opset)
    else:
        inits = {"starts": np.array(starts, np.int64), "ends": np.array(ends, np.int64)}
        order = ["x0", "starts", "ends"]
        if axes is not None or steps is not None:
            inits["axes"] = np.array(axes if axes is not None else range(len(starts)), np.int64)
            order.append("axes")
        if steps is not None:
            inits["steps"] = np.array(steps, np.int64)
            order.append("steps")
        run_both("Slice", [x], torch_slice, initializers=inits, opset=opset, order=order)


@pytest.mark.parametrize("axis,indices", [(0, [2, 0, 2]), (1, [[1, -1], [0, 3]]), (-1, 4), (2, [6, 0, 6, 6])])
def test_gather_on_any_axis_matches_torch_with_repeats_adding_up(axis, indices):
    x = np.random.default_rng(11).standard_normal((3, 5, 7)).astype(np.float32)
    idx = np.asarray(indices, np.int64)

    def torch_gather(t, i):
        a = axis % 3
        i = torch.where(i < 0, i + t.shape[a], i)
        out = torch.index_select(t, a, i.reshape(-1))
        return out.reshape(t.shape[:a] + tuple(idx.shape) + t.shape[a + 1:])

    run_both("Gather", [x], torch_gather, {"axis": axis}, initializers={"i": idx})


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_into_uneven_parts_then_concat_gives_each_part_its_gradient(opset):
    x = np.random.default_rng(12).standard_normal((2, 9, 4)).astype(np.float32)
    if opset >= 18:
        split = dict(attrs={"num_outputs": 3}, inits=[])
        parts = [3, 3, 3]
    elif opset >= 13:
        split = dict(attrs={}, inits=[make_initializer("s", np.array([2, 3, 4], np.int64))])
        parts = [2, 3, 4]
    else:
        split = dict(attrs={"split": [2, 3, 4]}, inits=[])
        parts = [2, 3, 4]
    inputs = ["x"] + (["s"] if split["inits"] else [])
    nodes = [make_node("Split", inputs, ["a", "b", "c"], axis=1, **split["attrs"]),
             make_node("Mul", ["a", "a"], ["a2"]), make_node("Concat", ["c", "a2", "b"], ["y"], axis=1)]
    graph = pycnn.onnx.load(make_model(nodes, split["inits"], {"x": [2, 9, 4]}, opset).SerializeToString())
    xp = pycnn.tensor(x, requires_grad=True)
    y = graph(xp)
    w = np.random.default_rng(13).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(pycnn.tensor(w))
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    a, b, c = torch.split(xt, parts, 1)
    yt = torch.cat([c, a * a, b], 1)
    yt.backward(torch.tensor(w, dtype=torch.float64))
    close(y.numpy(), yt.detach().numpy(), "Split forward")
    close(xp.grad.numpy(), xt.grad.numpy(), "Split gradient")


def test_expand_and_tile_sum_their_copies_back():
    x = np.random.default_rng(14).standard_normal((3, 1, 5)).astype(np.float32)
    run_both("Expand", [x], lambda t, s: t.expand(2, 3, 4, 5), initializers={"s": np.array([2, 1, 4, 1], np.int64)})
    run_both("Tile", [x], lambda t, r: t.repeat(2, 3, 1), initializers={"r": np.array([2, 3, 1], np.int64)})


@pytest.mark.parametrize("ceil", [0, 1])
def test_pools_3d_match_torch(ceil):
    x = np.random.default_rng(15 + ceil).standard_normal((2, 3, 7, 6, 9)).astype(np.float32)
    attrs = {"kernel_shape": [3, 2, 3], "strides": [2, 1, 2], "pads": [1, 0, 1, 1, 0, 1], "ceil_mode": ceil}
    run_both("MaxPool", [x], lambda t: F.max_pool3d(t, (3, 2, 3), (2, 1, 2), (1, 0, 1), ceil_mode=bool(ceil)), attrs)
    run_both("MaxPool", [x], lambda t: F.max_pool3d(t, (2, 2, 2), 1, 0, dilation=(2, 1, 3)),
             {"kernel_shape": [2, 2, 2], "dilations": [2, 1, 3]})
    for include in (0, 1):
        run_both("AveragePool", [x], lambda t: F.avg_pool3d(t, (3, 2, 3), (2, 1, 2), (1, 0, 1), ceil_mode=bool(ceil),
                                                           count_include_pad=bool(include)),
                 dict(attrs, count_include_pad=include))


@pytest.mark.parametrize("include", [0, 1])
def test_dilated_average_pool_divides_by_each_windows_count(include):
    """torch has no dilated average pooling: the reference is the window sum (a depthwise convolution
    with ones) divided by the count of positions inside the input (and its pads with count_include_pad)."""
    x = np.random.default_rng(16).standard_normal((2, 3, 9, 8)).astype(np.float32)
    pads, size = (1, 2, 1, 2), (9, 8)

    def reference(t):
        sums = F.conv2d(F.pad(t, (pads[1], pads[3], pads[0], pads[2])), torch.ones(3, 1, 3, 2, dtype=t.dtype),
                        stride=(2, 1), dilation=(2, 3), groups=3)
        inside = torch.ones(1, 1, *size, dtype=t.dtype)
        inside = F.pad(inside, (pads[1], pads[3], pads[0], pads[2]), value=float(include))
        counts = F.conv2d(inside, torch.ones(1, 1, 3, 2, dtype=t.dtype), stride=(2, 1), dilation=(2, 3))
        return sums / counts

    run_both("AveragePool", [x], reference, {"kernel_shape": [3, 2], "strides": [2, 1], "dilations": [2, 3],
                                             "pads": list(pads), "count_include_pad": include})
