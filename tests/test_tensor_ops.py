"""The Tensor API a PyTorch user reaches for: indexing, argmax/argmin, max/min, view/squeeze/
unsqueeze, transpose/permute/.T, dtype casts and Python numbers, comparisons, exp/log/sqrt/abs/pow/
clamp and matmul, forward and backward against torch float64 on every device."""
import numpy as np
import pytest
import torch

import pycnn
from helpers.op_check import check_op, random_configs
from pycnn.tensor import BoolTensor


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ----- indexing ---------------------------------------------------------------------------------------
def _index_case(rng):
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 5)))
    key, dim, array_used = [], 0, False
    while dim < len(shape) and rng.random() < 0.8:
        kind = rng.choice(["int", "slice", "none", "array"])
        size = shape[dim]
        if kind == "int":
            key.append(int(rng.integers(-size, size)))
        elif kind == "slice":
            start = None if rng.random() < 0.3 else int(rng.integers(-size - 1, size + 1))
            stop = None if rng.random() < 0.3 else int(rng.integers(-size - 1, size + 2))
            key.append(slice(start, stop, int(rng.integers(1, 4)) if rng.random() < 0.6 else None))
        elif kind == "none":
            key.append(None)
            continue
        elif not array_used:
            array_used = True
            index = rng.integers(-size, size, tuple(rng.integers(1, 4, rng.integers(1, 3))))
            key.append(("array", index, rng.choice(["tensor", "ndarray", "list"])))
        else:
            key.append(slice(None))
        dim += 1
    if rng.random() < 0.3:
        key.insert(int(rng.integers(0, len(key) + 1)), Ellipsis)
    return shape, key, int(rng.integers(1 << 30))


def _keys(key, device):
    ours, theirs = [], []
    for item in key:
        if isinstance(item, tuple):
            _, index, form = item
            ours.append(pycnn.tensor(index, device=device) if form == "tensor" else
                        index if form == "ndarray" else index.tolist())
            theirs.append(torch.tensor(index))
        else:
            ours.append(item)
            theirs.append(item)
    return tuple(ours), tuple(theirs)


@pytest.mark.parametrize("case", random_configs(40, 11, _index_case), ids=str)
def test_getitem_matches_torch(case, device):
    shape, key, seed = case
    ours, theirs = _keys(key, device)
    check_op(lambda x: x[ours], lambda x: x[theirs], [_rand(shape, seed)], device=device)


@pytest.mark.parametrize("key", [0, -1, (1, 2), (slice(None), 1), (Ellipsis, 0), (None, 1, Ellipsis),
                                 (slice(1, None, 2), None, slice(None, -1)), (1, [0, 0, 3]),
                                 (slice(None), [2, -1, 2], 0), ([[1, 0], [1, 1]],),
                                 (0, slice(None), [1, 3, 0])], ids=str)  # torch: (4, 3), numpy: (3, 4)
def test_getitem_fixed_keys(key, device):
    check_op(lambda x: x[key], lambda x: x[key], [_rand((3, 4, 5), 1)], device=device)


def test_mask_indexing_with_comparisons_matches_torch(device):
    data = _rand((4, 3, 5), 2)
    masks = [lambda x: x > 0, lambda x: (x[:, :, 0] < 0.2), lambda x: x[0, :, 0] >= 0]
    where = [lambda x, m: x[m], lambda x, m: x[m], lambda x, m: x[:, m]]
    for make_mask, apply in zip(masks, where):
        def ours(x):
            return apply(x, make_mask(x.detach()))

        def theirs(x):
            return apply(x, make_mask(x.detach()))

        check_op(ours, theirs, [data], device=device)
    t = pycnn.tensor(data, device=device)
    np.testing.assert_array_equal(t[np.array([True, False, True, False])].numpy(), data[[0, 2]])


def test_getitem_works_on_int64_and_iteration(device):
    labels = pycnn.tensor(np.arange(10) * 3, device=device)
    assert labels[2:5].dtype == "int64" and labels[2:5].tolist() == [6, 9, 12]
    assert labels[-1].item() == 27 and labels[[0, 9]].tolist() == [0, 27]
    rows = list(pycnn.tensor(np.arange(6.0).reshape(3, 2), device=device))
    assert [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(pycnn.tensor(1.0))


def test_getitem_result_is_a_copy():
    x = pycnn.tensor(np.zeros((2, 3)))
    row = x[0]
    row.zero_()
    row2 = x[1] + 5
    assert x.numpy().sum() == 0 and row2.numpy().sum() == 15


@pytest.mark.parametrize("key, error, match", [
    (5, IndexError, r"index 5 is out of bounds for dimension 0 with size 3"),
    ((0, -6), IndexError, r"index -6 is out of bounds for dimension 1 with size 4"),
    ((0, 0, 0), IndexError, r"too many indices for tensor of dimension 2"),
    (slice(None, None, -1), ValueError, r"step must be greater than zero"),
    (slice(None, None, 0), ValueError, r"step must be greater than zero"),
    ([0, 3], IndexError, r"index 3 is out of bounds for dimension 0 with size 3"),
    (([0], [1]), IndexError, r"one tensor, array or list index per indexing, got 2"),
    ((Ellipsis, Ellipsis), IndexError, r"an index can only have a single ellipsis"),
    ("a", IndexError, r"indices must be ints, slices, None, Ellipsis, .* got str"),
    (1.5, IndexError, r"got float"),
    (np.array([0.5]), IndexError, r"got an array of dtype float64"),
    (np.array([True, False]), IndexError, r"The shape of the mask \[2\] at index 0 does not match the "
                                          r"shape of the indexed tensor \[3\]"),
], ids=str)
def test_bad_indices(key, error, match, device):
    x = pycnn.tensor(_rand((3, 4)), device=device)
    with pytest.raises(error, match=match):
        x[key]
    with pytest.raises(IndexError, match=r"tensors used as indices must be long, int, byte or bool tensors"):
        x[pycnn.tensor([0.0], device=device)]


# ----- argmax / argmin / max / min --------------------------------------------------------------------
def _reduce_case(rng):
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(0, 4)))
    dim = None if rng.random() < 0.3 else int(rng.integers(-max(len(shape), 1), max(len(shape), 1)))
    ties = bool(rng.random() < 0.5)  # small integers: many ties, the first wins
    return shape, dim, bool(rng.random() < 0.5), ties, int(rng.integers(1 << 30))


def _reduce_data(shape, ties, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(-2, 3, shape).astype(np.float32) if ties else
            rng.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("case", random_configs(30, 12, _reduce_case), ids=str)
def test_argmax_argmin_match_torch(case, device):
    shape, dim, keepdim, ties, seed = case
    data = _reduce_data(shape, ties, seed)
    x, t = pycnn.tensor(data, device=device), torch.tensor(data, dtype=torch.float64)
    for name in ("argmax", "argmin"):
        ours = getattr(x, name)(dim=dim, keepdim=keepdim)
        theirs = getattr(t, name)(dim=dim, keepdim=keepdim)
        assert ours.dtype == "int64" and ours.device == device
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("case", random_configs(30, 13, _reduce_case), ids=str)
def test_max_min_match_torch(case, device):
    shape, dim, keepdim, ties, seed = case
    data = _reduce_data(shape, ties, seed)
    for name in ("max", "min"):
        if dim is None:
            check_op(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [data], device=device)
            continue
        check_op(lambda x: getattr(x, name)(dim, keepdim).values,
                 lambda x: getattr(x, name)(dim, keepdim).values, [data], device=device)
        ours = getattr(pycnn.tensor(data, device=device), name)(dim=dim, keepdim=keepdim)
        theirs = getattr(torch.tensor(data), name)(dim=dim, keepdim=keepdim)
        assert ours.indices.dtype == "int64"
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        values, indices = ours  # a named tuple, as torch.return_types
        assert values is ours.values and indices is ours.indices


def _sum_mean_case(rng):
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(0, 5)))
    n = max(len(shape), 1)
    dims = [int(d) for d in rng.choice(np.arange(-n, n), int(rng.integers(1, n + 1)), replace=False)
            if len(shape) or d in (0, -1)]
    dim = dims[0] if len(dims) == 1 and rng.random() < 0.5 else tuple(
        d for d in dims if (d % n) not in [e % n for e in dims[:dims.index(d)]])
    return shape, dim, bool(rng.integers(2)), int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(24, 17, _sum_mean_case), ids=lambda c: str(c[:3]))
def test_sum_and_mean_over_dims_match_torch(case, device):
    # Tensor.sum/mean(dim, keepdim) as torch's: an int or a tuple of dims (negative ones too), each
    # dropped or kept as 1; values and the gradient spread back over each reduced dimension.
    shape, dim, keepdim, seed = case
    data = _rand(shape, seed)
    for name in ("sum", "mean"):
        check_op(lambda x: getattr(x, name)(dim, keepdim=keepdim),
                 lambda x: getattr(x, name)(dim, keepdim=keepdim), [data], device=device)


def test_sum_and_mean_over_dims_edges(device):
    x = pycnn.tensor(_rand((2, 3, 4)), device=device)
    assert x.sum(dim=()).shape == () and x.mean(()).shape == ()  # (): every dimension, as torch
    assert x.sum(None, keepdim=True).shape == (1, 1, 1)
    counts = pycnn.tensor(np.arange(6, dtype=np.int64).reshape(2, 3), device=device)
    summed = counts.sum(1)  # integers sum exactly to int64
    assert summed.dtype == "int64"
    np.testing.assert_array_equal(summed.numpy(), [3, 12])
    assert np.all(np.isnan(pycnn.zeros(2, 0, device=device).mean(1).numpy()))  # the mean of nothing
    np.testing.assert_array_equal(pycnn.zeros(2, 0, device=device).sum(1).numpy(), [0.0, 0.0])
    assert pycnn.tensor(3.0, device=device).sum(0).shape == ()
    with pytest.raises(RuntimeError, match=r"sum\(\): dim 1 appears multiple times"):
        x.sum((1, -2))
    with pytest.raises(IndexError, match=r"Dimension out of range"):
        x.mean(3)
    with pytest.raises(TypeError, match=r"mean\(\): could not infer output dtype"):
        counts.mean(1)


def test_reduction_errors_match_torch():
    empty = pycnn.tensor(np.zeros((0, 3), np.float32))
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified"):
        empty.max()
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified"):
        empty.argmax()
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero size"):
        empty.min(dim=0)
    assert empty.max(dim=1).values.shape == (0,)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], "
                                         r"but got 2\)"):
        pycnn.tensor(_rand((2, 3))).argmax(dim=2)
    with pytest.raises(TypeError, match=r"max: the elementwise max of two tensors is not supported"):
        pycnn.tensor(_rand((2, 3))).max(pycnn.tensor(_rand((2, 3))))


# ----- shapes -----------------------------------------------------------------------------------------
def _shape_case(rng):
    shape = tuple(int(s) for s in rng.choice([1, 1, 2, 3, 5], rng.integers(1, 5)))
    return shape, int(rng.integers(1 << 30)), rng


@pytest.mark.parametrize("case", random_configs(30, 14, _shape_case), ids=lambda c: str(c[:2]))
def test_view_squeeze_unsqueeze_permute_match_torch(case, device):
    shape, seed, rng = case
    n = len(shape)
    data = _rand(shape, seed)
    dim = int(rng.integers(-n, n))
    new = int(rng.integers(-n - 1, n + 1))
    perm = tuple(int(p) for p in rng.permutation(n))
    d0, d1 = (int(d) for d in rng.integers(-n, n, 2))
    cases = [
        (lambda x: x.view(-1, shape[-1]), lambda x: x.view(-1, shape[-1])),
        (lambda x: x.view(int(np.prod(shape))), lambda x: x.view(int(np.prod(shape)))),
        (lambda x: x.squeeze(), lambda x: x.squeeze()),
        (lambda x: x.squeeze(dim), lambda x: x.squeeze(dim)),
        (lambda x: x.squeeze((0, dim) if dim % n else (dim,)),
         lambda x: x.squeeze((0, dim) if dim % n else (dim,))),
        (lambda x: x.unsqueeze(new), lambda x: x.unsqueeze(new)),
        (lambda x: x.permute(*perm), lambda x: x.permute(*perm)),
        (lambda x: x.permute(perm), lambda x: x.permute(perm)),
        (lambda x: x.transpose(d0, d1), lambda x: x.transpose(d0, d1)),
    ]
    for ours, theirs in cases:
        check_op(ours, theirs, [data], device=device)


def test_matrix_transposes(device):
    data = _rand((3, 5))
    check_op(lambda x: x.T, lambda x: x.T, [data], device=device)
    check_op(lambda x: x.t(), lambda x: x.t(), [data], device=device)
    check_op(lambda x: x.t(), lambda x: x.t(), [data[0]], device=device)
    with pytest.raises(ValueError, match=r"t: expected a tensor of at most 2 dimensions"):
        pycnn.tensor(_rand((2, 2, 2)), device=device).t()
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-3, 2\], "
                                         r"but got 3\)"):
        pycnn.tensor(data, device=device).unsqueeze(3)
    with pytest.raises(ValueError, match=r"permute: expected a permutation of the 2 dimensions"):
        pycnn.tensor(data, device=device).permute(0, 0)


# ----- comparisons, casts, Python numbers -------------------------------------------------------------
@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparisons_match_torch(op, device):
    a = np.random.default_rng(0).integers(-2, 3, (4, 5)).astype(np.float32)
    b = np.random.default_rng(1).integers(-2, 3, (5,)).astype(np.float32)
    x, y = pycnn.tensor(a, device=device), pycnn.tensor(b, device=device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    for ours, theirs in ((getattr(x, op)(y), getattr(ta, op)(tb)), (getattr(x, op)(0.5), getattr(ta, op)(0.5)),
                         (getattr(x, op)(b), getattr(ta, op)(tb))):
        assert ours.dtype == "int64" and ours.device == device and isinstance(ours, BoolTensor)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy().astype(np.int64))
        assert ours.sum().item() == theirs.sum().item() and isinstance(ours.sum().item(), int)
        assert ours.float().mean().item() == pytest.approx(theirs.float().mean().item())


def test_accuracy_idiom_like_torch(device):
    logits = _rand((32, 10), 5)
    labels = np.random.default_rng(6).integers(0, 10, 32)
    pred = pycnn.tensor(logits, device=device).argmax(dim=1)
    tpred = torch.tensor(logits).argmax(dim=1)
    y, ty = pycnn.tensor(labels, device=device), torch.tensor(labels)
    assert (pred == y).sum().item() == (tpred == ty).sum().item()
    assert (pred == y).float().mean().item() == pytest.approx((tpred == ty).float().mean().item())
    x = pycnn.tensor(logits, device=device, requires_grad=True)
    x[x > 0].sum().backward()  # the mask from a comparison selects, and its gradient is the mask
    np.testing.assert_array_equal(x.grad.numpy(), (logits > 0).astype(np.float32))


def test_equality_keeps_identity_semantics_for_containers():
    a, b = pycnn.tensor([1.0, 2.0]), pycnn.tensor([1.0, 2.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1
    assert (a == None) is False and (a != None) is True  # noqa: E711  (torch's result too)


def test_casts_and_python_numbers(device):
    x = pycnn.tensor([[-1.7, 0.0, 2.9]], device=device, requires_grad=True)
    assert x.float() is x
    long = x.long()
    assert long.dtype == "int64" and long.tolist() == [[-1, 0, 2]]  # truncation, as torch
    assert x.int().tolist() == [[-1, 0, 2]]
    assert x.bool().tolist() == [[1, 0, 1]] and x.bool().dtype == "int64"
    back = long.float()
    assert back.dtype == "float32" and back.tolist() == [[-1.0, 0.0, 2.0]]
    assert float(x[0, 2]) == pytest.approx(2.9) and int(x[0, 2]) == 2 and int(x[0, 0]) == -1
    assert bool(x[0, 0]) and not bool(x[0, 1])
    assert [10, 20, 30][pycnn.tensor(2)] == 30 and range(pycnn.tensor(3)) == range(3)
    with pytest.raises(RuntimeError, match=r"Boolean value of Tensor with more than one value is ambiguous"):
        bool(x)
    with pytest.raises(RuntimeError, match=r"Boolean value of Tensor with no values is ambiguous"):
        bool(pycnn.tensor(np.zeros(0, np.float32)))
    with pytest.raises(RuntimeError, match=r"a Tensor with 3 elements cannot be converted to Scalar"):
        float(x)
    with pytest.raises(TypeError, match=r"only integer tensors of a single element can be converted to an index"):
        [1, 2][pycnn.tensor(1.0)]
    check_op(lambda t: t.long().float() * t, lambda t: t.long().double() * t, [_rand((3, 4))], device=device)


def test_int64_sum_mean_and_promotion(device):
    labels = pycnn.tensor([1, 2, 3], device=device)
    total = labels.sum()
    assert total.dtype == "int64" and total.item() == 6 and total.device == device
    with pytest.raises(TypeError, match=r"mean\(\): could not infer output dtype.*got int64"):
        labels.mean()
    mixed = labels * pycnn.tensor([0.5, 0.5, 0.5], device=device)
    assert mixed.dtype == "float32" and mixed.tolist() == [0.5, 1.0, 1.5]
    assert (labels + 0.5).tolist() == [1.5, 2.5, 3.5]
    with pytest.raises(TypeError, match=r"add: expected .*float32"):
        labels + 1  # int64 with a Python int would stay int64 in torch; pycnn's kernels are float32


# ----- elementwise math and matmul --------------------------------------------------------------------
def _math_case(rng):
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(0, 4)))
    return shape, float(rng.choice([0.0, 1.0, 2.0, 3.0, 0.5, -1.5])), int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(30, 15, _math_case), ids=str)
def test_elementwise_math_matches_torch(case, device):
    shape, p, seed = case
    data = _rand(shape, seed)
    positive = np.abs(data) + 0.1
    check_op(lambda x: x.exp(), lambda x: x.exp(), [data], device=device)
    check_op(lambda x: x.log(), lambda x: x.log(), [positive], device=device)
    check_op(lambda x: x.sqrt(), lambda x: x.sqrt(), [positive], device=device)
    check_op(lambda x: x.abs(), lambda x: x.abs(), [data], device=device)
    check_op(lambda x: abs(x), lambda x: abs(x), [data], device=device)
    check_op(lambda x: x ** p, lambda x: x ** p, [positive if p % 1 else data], device=device)
    check_op(lambda x: x.pow(p), lambda x: x.pow(p), [positive if p % 1 else data], device=device)
    check_op(lambda x: 2.5 ** x, lambda x: 2.5 ** x, [data], device=device)
    check_op(lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), [data], device=device)
    check_op(lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1), [data], device=device)


def test_elementwise_math_edges_match_torch(device):
    x = pycnn.tensor([0.0, -1.0, 2.0], device=device, requires_grad=True)
    x.abs().sum().backward()
    assert x.grad.tolist() == [0.0, -1.0, 1.0]
    x.grad = None
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    y = pycnn.tensor([0.0, -1.0], device=device)
    assert np.isneginf(y.log().numpy()[0]) and np.isnan(y.sqrt().numpy()[1])
    with pytest.raises(TypeError, match=r"pow: a tensor exponent is not supported"):
        x ** x
    with pytest.raises(TypeError, match=r"exp: expected input to be float32, got int64"):
        pycnn.tensor([1, 2], device=device).exp()


def _matmul_case(rng):
    n, k, m = (int(s) for s in rng.integers(1, 9, 3))
    left, right = rng.choice([1, 2, 2]), rng.choice([1, 2, 2])
    return (k,) if left == 1 else (n, k), (k,) if right == 1 else (k, m), int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(30, 16, _matmul_case), ids=str)
def test_matmul_matches_torch(case, device):
    a_shape, b_shape, seed = case
    a, b = _rand(a_shape, seed), _rand(b_shape, seed + 1)
    check_op(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], device=device)
    check_op(lambda x, y: x.matmul(y), lambda x, y: x.matmul(y), [a, (b, False)], device=device)


def _batched_matmul_case(rng):
    """Stacks of matrices (batch dimensions that broadcast: 1s, missing leading ones) against a stack, a
    matrix or a vector, either side."""
    n, k, m = (int(s) for s in rng.integers(1, 6, 3))
    batch = [int(s) for s in rng.integers(1, 4, rng.integers(1, 3))]
    other = [1 if rng.random() < 0.3 else d for d in batch][int(rng.integers(0, len(batch) + 1)):]
    a, b = tuple(batch) + (n, k), tuple(other) + (k, m)
    if rng.random() < 0.5:
        a, b = tuple(other) + (n, k), tuple(batch) + (k, m)
    kind = rng.choice(["stacks", "matrix", "vector"])
    if kind == "matrix":
        a, b = (a, (k, m)) if rng.random() < 0.5 else ((n, k), b)
    elif kind == "vector":
        a, b = (a, (k,)) if rng.random() < 0.5 else ((k,), b)
    return a, b, int(rng.integers(1 << 30))


@pytest.mark.parametrize("case", random_configs(30, 18, _batched_matmul_case), ids=str)
def test_batched_matmul_matches_torch(case, device):
    # torch.matmul's batched rules: both gradients summed back over the broadcast batch dimensions.
    a_shape, b_shape, seed = case
    a, b = _rand(a_shape, seed), _rand(b_shape, seed + 1)
    check_op(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], device=device)


def test_matmul_errors_and_empty(device):
    a = pycnn.tensor(_rand((2, 3)), device=device)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) cannot be multiplied"):
        a @ a
    with pytest.raises(ValueError, match=r"matmul: the batch dimensions of shapes \(2, 3, 4\) and "
                                         r"\(3, 4, 5\) do not broadcast"):
        pycnn.tensor(_rand((2, 3, 4)), device=device) @ pycnn.tensor(_rand((3, 4, 5)), device=device)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(3, 2, 2\) cannot be multiplied"):
        a @ pycnn.tensor(_rand((3, 2, 2)), device=device)
    with pytest.raises(ValueError, match=r"matmul: both arguments need at least 1 dimension"):
        a @ pycnn.tensor(2.0, device=device)
    e = pycnn.tensor(np.zeros((2, 0), np.float32), device=device, requires_grad=True)
    f = pycnn.tensor(np.zeros((0, 4), np.float32), device=device, requires_grad=True)
    out = e @ f
    assert out.shape == (2, 4) and not out.numpy().any()
    out.sum().backward()
    assert e.grad.shape == (2, 0) and f.grad.shape == (0, 4)
    for a_shape, b_shape, out_shape in [((2, 3, 0), (0, 4), (2, 3, 4)), ((2, 0, 3), (3, 4), (2, 0, 4)),
                                        ((2, 3, 4), (4, 0), (2, 3, 0)), ((0, 3, 4), (2, 4, 5), None)]:
        a = pycnn.tensor(np.zeros(a_shape, np.float32), device=device, requires_grad=True)
        b = pycnn.tensor(np.zeros(b_shape, np.float32), device=device, requires_grad=True)
        if out_shape is None:  # a batch of 0 against one of 2: torch refuses too
            with pytest.raises(ValueError, match="do not broadcast"):
                a @ b
            continue
        out = a @ b  # empty stacks: zeros, and zero gradients of each operand's shape
        assert out.shape == out_shape and not out.numpy().any()
        out.sum().backward()
        assert a.grad.shape == a_shape and b.grad.shape == b_shape


def test_masks_survive_shape_ops_and_combine(device):
    """A comparison's mask stays a mask through reshape/view/flatten/index/permute/detach/clone (an
    int64 0/1 tensor that lost the flag would index as positions), and ~ & | ^ combine masks."""
    values = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], np.float32)
    x, t = pycnn.tensor(values, device=device), torch.from_numpy(values)
    m, tm = x > 0, t > 0
    cases = [(x.reshape(-1)[m.reshape(-1)], t.reshape(-1)[tm.reshape(-1)]),
             (x.reshape(-1)[m.view(-1)], t.reshape(-1)[tm.view(-1)]),
             (x.flatten()[m.flatten()], t.flatten()[tm.flatten()]),
             (x[0][m[0]], t[0][tm[0]]),
             (x.T[m.T], t.T[tm.T]),
             (x.permute(1, 0)[m.permute(1, 0)], t.permute(1, 0)[tm.permute(1, 0)]),
             (x[m.detach()], t[tm.detach()]),
             (x[m.clone()], t[tm.clone()]),
             (x[~m], t[~tm]),
             (x[m & (x < 4)], t[tm & (t < 4)]),
             (x[m | (x < -5)], t[tm | (t < -5)]),
             (x[m ^ (x > 2)], t[tm ^ (t > 2)])]
    for ours, theirs in cases:
        assert ours.numpy().tolist() == theirs.tolist()
    assert isinstance((m.sum()), pycnn.Tensor) and m.sum().item() == 3


def test_int64_true_division_gives_float_like_torch(device):
    pred, y = pycnn.tensor([1, 2, 3, 4], device=device), pycnn.tensor([1, 0, 3, 4], device=device)
    accuracy = (pred == y).sum() / len(y)
    assert accuracy.dtype == "float32" and accuracy.item() == pytest.approx(0.75)
    assert (pred / pycnn.tensor([2, 2, 2, 2], device=device)).numpy().tolist() == [0.5, 1.0, 1.5, 2.0]
    assert (7 / pycnn.tensor([2], device=device)).item() == pytest.approx(3.5)
