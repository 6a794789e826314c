"""Tensor creation, numpy and DLPack exchange, devices, broadcasting arithmetic and the autograd tape."""
import numpy as np
import pytest
import torch

import pycnn
import pycnn.nn.functional as F
from helpers.op_check import check_op, random_configs


def test_dtypes_follow_the_data():
    assert pycnn.tensor([1.5, 2]).dtype == "float32"
    assert pycnn.tensor(np.arange(3, dtype=np.float64)).dtype == "float32"
    assert pycnn.tensor([1, 2, 3]).dtype == "int64"
    assert pycnn.tensor(np.array([True, False])).dtype == "int64"
    np.testing.assert_array_equal(pycnn.tensor([[1, 2], [3, 4]]).numpy(), [[1, 2], [3, 4]])


def test_tensor_copies_from_numpy_shares():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    copied, shared = pycnn.tensor(a), pycnn.from_numpy(a)
    a[0, 0] = 42
    assert copied.numpy()[0, 0] == 0 and shared.numpy()[0, 0] == 42
    view = shared.numpy()
    view[1, 2] = -1
    assert a[1, 2] == -1  # numpy() of a CPU tensor shares memory too


def test_tensor_data_is_aligned_and_outlives_the_array():
    t = pycnn.tensor(np.ones((3, 5)))
    assert t._data.data_ptr() % 64 == 0
    a = np.arange(4, dtype=np.float32)
    shared = pycnn.from_numpy(a)
    del a
    np.testing.assert_array_equal(shared.numpy(), [0, 1, 2, 3])


def test_bad_numpy_input():
    with pytest.raises(TypeError, match=r"from_numpy: expected dtype float32 or int64, got float64"):
        pycnn.from_numpy(np.zeros(3))
    with pytest.raises(ValueError, match=r"from_numpy: expected a C-contiguous array"):
        pycnn.from_numpy(np.zeros((4, 4), dtype=np.float32)[:, ::2])
    with pytest.raises(TypeError, match=r"tensor: expected numeric .* got numpy dtype <U1"):
        pycnn.tensor(["a", "b"])
    with pytest.raises(TypeError, match=r"tensor: expected numeric .* complex128"):
        pycnn.tensor(np.zeros(2, dtype=complex))
    # pycnn.tensor copies, so non-contiguous input is fine there
    np.testing.assert_array_equal(pycnn.tensor(np.arange(8.0).reshape(2, 4)[:, ::2]).numpy(), [[0, 2], [4, 6]])


def test_dlpack_round_trip_with_torch():
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    p = pycnn.from_dlpack(t)
    t[0, 0] = 100  # shared, no copy
    assert p.numpy()[0, 0] == 100
    back = torch.from_dlpack(pycnn.tensor(np.ones((2, 2))))
    assert back.shape == (2, 2) and back.sum().item() == 4
    labels = pycnn.from_dlpack(torch.tensor([1, 2, 3]))
    assert labels.dtype == "int64"
    with pytest.raises(TypeError, match="float32 or int64"):
        pycnn.from_dlpack(torch.zeros(2, dtype=torch.float16))


def test_cuda_unavailable_is_a_clear_error():
    if pycnn.cuda.is_available():
        pytest.skip("a GPU is present")
    assert pycnn.cuda.is_available() is False
    with pytest.raises(RuntimeError, match=r"device='cuda' requested but CUDA is not available"):
        pycnn.tensor([1.0], device="cuda")
    with pytest.raises(ValueError, match=r"device: expected 'cpu' or 'cuda', got 'tpu'"):
        pycnn.tensor([1.0], device="tpu")


def test_mismatched_devices(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    with pytest.raises(ValueError, match=r"conv2d: expected input and weight on the same device, got cuda and cpu"):
        F.conv2d(pycnn.zeros(1, 1, 4, 4, device="cuda"), pycnn.zeros(1, 1, 3, 3))


def broadcast_config(rng):
    nd = int(rng.integers(1, 5))
    shape = [int(d) for d in rng.integers(1, 6, size=nd)]
    other = list(shape)
    for i in range(nd):
        if rng.random() < 0.4:
            other[i] = 1
    other = other[int(rng.integers(0, nd)):]  # sometimes fewer dims
    if rng.random() < 0.5:
        shape, other = other, shape
    return dict(a=shape, b=other, op=str(rng.choice(["add", "sub", "mul", "div"])), seed=int(rng.integers(1 << 30)))


TORCH_OPS = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}


@pytest.mark.parametrize("cfg", random_configs(40, 5, broadcast_config), ids=str)
def test_broadcasting_arithmetic(cfg, device):
    rng = np.random.default_rng(cfg["seed"])
    a = rng.standard_normal(cfg["a"])
    b = rng.standard_normal(cfg["b"])
    if cfg["op"] == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    check_op(lambda x, y: pycnn.tensor_ops.binary(x, y, cfg["op"]), TORCH_OPS[cfg["op"]], [a, b], device=device,
             seed=cfg["seed"])


@pytest.mark.parametrize("n", [1, 17, 65536, 65537, 200003])
@pytest.mark.parametrize("threads", [1, 2])
def test_flat_arithmetic_matches_numpy_on_either_side_of_the_parallel_threshold(n, threads):
    # Same-shape and scalar operands take one flat loop, on the calling thread up to 65536 floats
    # and split over the threads above: every op, bit for bit numpy's float32 result.
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n).astype(np.float32)
    b = (np.sign(rng.standard_normal(n)) * (rng.random(n) + 0.5)).astype(np.float32)
    s = np.float32(1.7)
    before = pycnn.get_num_threads()
    pycnn.set_num_threads(threads)
    try:
        for op, ref in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)):
            x, y = pycnn.tensor(a), pycnn.tensor(b)
            np.testing.assert_array_equal(pycnn.tensor_ops.binary(x, y, op).numpy(), ref(a, b))
            np.testing.assert_array_equal(pycnn.tensor_ops.binary(x, pycnn.tensor(s), op).numpy(), ref(a, s))
            np.testing.assert_array_equal(pycnn.tensor_ops.binary(pycnn.tensor(s), y, op).numpy(), ref(s, b))
    finally:
        pycnn.set_num_threads(before)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((2, 37, 29, 31), (2, 37, 1, 1)),     # a squeeze-and-excitation scale: rows of 899 times one value
    ((1, 37, 1, 1), (3, 37, 29, 31)),     # a bias on the left
    ((3, 40, 23, 31), (1, 40, 23, 1)),    # no dimension merges on b's side
    ((211, 1), (1, 617)),                 # an outer product: a held along each row, b read along it
    ((23000, 3), (1, 3)),                 # rows of 3
    ((5, 1, 7, 900), (1, 6, 7, 1)),       # both operands broadcast, on different dimensions
    ((2, 3, 1, 5, 7000), (2, 1, 4, 5, 1)),
])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_broadcast_rows_match_numpy_across_threads(a_shape, b_shape, threads):
    # Broadcast operands merge the dimensions both walk alike and run rows of the innermost, split
    # over the threads above 65536 outputs, each thread starting its odometer at its first row:
    # every op, bit for bit numpy's float32 result, both operand orders.
    rng = np.random.default_rng(sum(a_shape) + len(b_shape))
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = (np.sign(rng.standard_normal(b_shape)) * (rng.random(b_shape) + 0.5)).astype(np.float32)
    before = pycnn.get_num_threads()
    pycnn.set_num_threads(threads)
    try:
        for op, ref in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)):
            np.testing.assert_array_equal(pycnn.tensor_ops.binary(pycnn.tensor(a), pycnn.tensor(b), op).numpy(),
                                          ref(a, b))
            np.testing.assert_array_equal(pycnn.tensor_ops.binary(pycnn.tensor(b), pycnn.tensor(a), op).numpy(),
                                          ref(b, a))
    finally:
        pycnn.set_num_threads(before)


def test_python_operators_and_scalars():
    x = pycnn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (2 * x + 1 - x / 4) * x
    np.testing.assert_allclose(y.numpy(), (2 * x.numpy() + 1 - x.numpy() / 4) * x.numpy(), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.5 * x.numpy() + 1, rtol=1e-6)
    np.testing.assert_allclose((-x).numpy(), -x.numpy())
    np.testing.assert_allclose((1 / x).numpy(), 1 / x.numpy(), rtol=1e-6)


def test_incompatible_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        pycnn.zeros(2, 3) + pycnn.zeros(4)


def test_gradient_accumulates_over_branches():
    # y = w*x + w*x*x: w feeds two ops, as a residual/inception branch does.
    x = pycnn.tensor([1.0, 2.0, 3.0])
    w = pycnn.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = w * x + w * x * x
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), x.numpy() + x.numpy() ** 2)
    (w * x).sum().backward()  # a second backward accumulates into .grad, like PyTorch
    np.testing.assert_allclose(w.grad.numpy(), 2 * x.numpy() + x.numpy() ** 2)


def test_no_grad_and_detach():
    w = pycnn.tensor([1.0, 2.0], requires_grad=True)
    with pycnn.no_grad():
        y = w * 3
    assert not y.requires_grad and y.is_leaf
    z = (w * 2).detach()
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.sum().backward()
    assert pycnn.is_grad_enabled()


def test_reshape_flatten_and_mean(device):
    rng = np.random.default_rng(0)
    check_op(lambda x: x.reshape(3, -1).flatten(), lambda x: x.reshape(3, -1).flatten(),
             [rng.standard_normal((3, 4, 5))], device=device)
    check_op(lambda x: F.flatten(x) * 2, lambda x: torch.flatten(x, 1) * 2, [rng.standard_normal((2, 3, 4))],
             device=device)
    check_op(lambda x: x.mean(), lambda x: x.mean(), [rng.standard_normal((4, 7))], device=device)
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\)"):
        pycnn.zeros(2, 3).reshape(4, 2)


def test_deep_tape_does_not_hit_recursion_limit():
    x = pycnn.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_item_and_backward_errors():
    assert pycnn.tensor([[3.5]]).item() == 3.5
    with pytest.raises(ValueError, match="item: expected a tensor with one element"):
        pycnn.zeros(2).item()
    x = pycnn.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="backward: grad can be implied only for a one-element tensor"):
        (x * 2).backward()
    with pytest.raises(TypeError, match="only float32 tensors can require gradients"):
        pycnn.tensor([1, 2], requires_grad=True)


def test_grads_accumulate_in_place_without_sharing_storage():
    a = pycnn.tensor([1.0, 2.0], requires_grad=True)
    b = pycnn.tensor([3.0, 4.0], requires_grad=True)
    upstream = pycnn.tensor([1.0, 1.0])
    (a + b).backward(upstream)  # add hands the same gradient tensor to both leaves
    (a * 2.0).backward(upstream)  # accumulates into a.grad in place
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(upstream.numpy(), [1.0, 1.0])


class _Copied(pycnn.autograd.Function):
    """y = x; backward returns a new tensor made by a kernel (a clone of the incoming gradient),
    kept somewhere else too when ``keep`` says so (held: on a list; exported: as a numpy array
    sharing its memory; wrapped: a _C tensor over numpy memory the list keeps)."""
    keep, kept, made = None, [], []

    def forward(self, x):
        return x.clone()

    def backward(self, grad):
        g = grad.clone()
        if self.keep == "wrapped":
            array = g.numpy().copy()
            g = pycnn._C.from_numpy(array)
            _Copied.kept.append(array)
        elif self.keep == "held":
            _Copied.kept.append(g)
        elif self.keep == "exported":
            _Copied.kept.append(g.numpy())
        _Copied.made.append(g.data_ptr())
        return g


@pytest.mark.parametrize("keep", [None, "held", "exported", "wrapped"])
def test_a_leaf_takes_a_gradient_nobody_else_holds_and_copies_any_other(keep):
    # As torch's AccumulateGrad: a new .grad is the backward's own tensor when nothing else refers
    # to it (no copy of every parameter's gradient each step), a copy when anything else does, so a
    # later in-place accumulation never writes into memory someone else reads.
    _Copied.keep, _Copied.kept, _Copied.made = keep, [], []
    x = pycnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    _Copied.apply(x).backward(pycnn.tensor([1.0, 1.0, 1.0]))
    assert (x.grad._data.data_ptr() == _Copied.made[0]) == (keep is None)
    _Copied.apply(x).backward(pycnn.tensor([2.0, 2.0, 2.0]))  # accumulates into .grad in place
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 3.0])
    for kept, value in zip(_Copied.kept, [1.0, 2.0]):  # untouched by the accumulation
        np.testing.assert_array_equal(np.asarray(kept.numpy() if keep == "held" else kept),
                                      [value] * 3)


def test_leaves_fed_one_gradient_through_a_view_do_not_share_it():
    # add hands one tensor to both of its inputs; reshape's backward makes a view of it: at most one
    # leaf may take that memory.
    a = pycnn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = pycnn.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    c = pycnn.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    (a.reshape(4) + b + c * 2.0).sum().backward()
    ptrs = {a.grad._data.data_ptr(), b.grad._data.data_ptr(), c.grad._data.data_ptr()}
    assert len(ptrs) == 3
    (a.reshape(4) + b + c * 2.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 2), 2.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(4, 2.0))
    np.testing.assert_array_equal(c.grad.numpy(), np.full(4, 4.0))


def test_hostile_shapes_raise_instead_of_wrapping():
    # 2^40 x 2^40 elements would wrap a 64-bit size; a kernel would then fill a tiny buffer.
    with pytest.raises(ValueError, match=r"tensor: shape \(1, 1, 1099511627776, 1099511627776\) has more elements"):
        pycnn._C.empty([1, 1, 2**40, 2**40], "float32", "cpu")
    # Output sizes past 2^31 are refused before any shape is formed (their products could wrap).
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output height must be below 2\^31, got 1099511627776"):
        F.adaptive_avg_pool2d(pycnn.zeros(1, 1, 4, 4), 2**40)
    with pytest.raises(ValueError, match=r"has more elements than fit in memory"):
        pycnn.zeros(2, 3).reshape(2**62, 4)
    with pytest.raises(ValueError, match=r"tensor: expected rectangular numeric data"):
        pycnn.tensor([[1, 2], [3]])
