"""pycnn.split / pycnn.chunk (and Tensor.split / Tensor.chunk) against torch.split / torch.chunk: the
parts' shapes and values, and the gradient of a weighted sum of the parts in float64, on sizes that do
and do not divide the dimension, lists of sizes, negative dims, empty parts, only some parts used,
repeated backward passes; integer data; bad sizes raise."""
import numpy as np
import pytest
import torch

import pycnn

CASES = [  # (shape, split_size_or_sections, dim)
    ((7, 3), 2, 0),
    ((4, 9, 2), 4, 1),
    ((4, 9, 2), 9, -2),
    ((4, 9, 2), 20, 1),        # one part, the whole dimension
    ((5, 6), [1, 0, 5], 1),    # an empty part
    ((5, 6), (2, 3), 0),
    ((3, 0, 2), 2, 1),         # an empty dimension
    ((2, 3, 5, 4), [2, 2, 1], -2),
]


def _weighted_sum_gradient(parts, weights):
    sum((p * w).sum() for p, w in zip(parts, weights)).backward()


@pytest.mark.parametrize("shape, sizes, dim", CASES)
def test_split_matches_torch_values_and_gradient(shape, sizes, dim):
    rng = np.random.default_rng(len(shape) + dim)
    data = rng.standard_normal(shape)
    ref_x = torch.tensor(data, requires_grad=True)
    ref = torch.split(ref_x, sizes, dim)
    x = pycnn.tensor(data.astype(np.float32), requires_grad=True)
    ours = pycnn.split(x, sizes, dim)
    assert isinstance(ours, tuple) and len(ours) == len(ref)
    weights = [rng.standard_normal(tuple(r.shape)) for r in ref]
    for o, r in zip(ours, ref):
        assert tuple(o.shape) == tuple(r.shape)
        np.testing.assert_allclose(o.numpy(), r.detach().numpy(), rtol=1e-6, atol=1e-6)
    if ref_x.numel():
        _weighted_sum_gradient(ref, [torch.tensor(w) for w in weights])
        _weighted_sum_gradient(ours, [pycnn.tensor(w.astype(np.float32)) for w in weights])
        np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-5, atol=1e-6)
    method = x.split(sizes, dim)
    assert [tuple(p.shape) for p in method] == [tuple(r.shape) for r in ref]


@pytest.mark.parametrize("shape, chunks, dim", [((5, 3), 4, 0), ((6, 4), 3, 0), ((2, 7), 3, -1), ((3, 2), 5, 1),
                                                 ((4, 1), 1, 0)])
def test_chunk_matches_torch(shape, chunks, dim):
    data = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    ref = torch.chunk(torch.tensor(data), chunks, dim)
    x = pycnn.tensor(data.astype(np.float32), requires_grad=True)
    ours = pycnn.chunk(x, chunks, dim)
    assert [tuple(p.shape) for p in ours] == [tuple(r.shape) for r in ref]  # torch gives fewer when they run out
    for o, r in zip(ours, ref):
        np.testing.assert_array_equal(o.numpy(), r.numpy())
    sum(p.sum() for p in x.chunk(chunks, dim)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(shape))


@pytest.mark.parametrize("shape, sizes, dim, used", [
    ((7, 5), 2, 0, [1]),                # a middle part alone
    ((4, 9, 3), [2, 4, 3], 1, [0, 2]),  # the ends, not the middle
    ((6, 5, 2), 2, -1, [0]),
    ((8, 3), [1, 0, 7], 0, [2]),        # beside an empty part
])
def test_split_gradient_with_only_some_parts_used(shape, sizes, dim, used):
    """Parts without a gradient give zeros in their place; the input goes through a product first
    (a computed input, not a leaf), and one used part is read twice (its gradients add)."""
    rng = np.random.default_rng(sum(shape))
    data, scale = rng.standard_normal(shape), rng.standard_normal(shape)
    ref_x = torch.tensor(data, requires_grad=True)
    x = pycnn.tensor(data.astype(np.float32), requires_grad=True)
    ref = torch.split(ref_x * torch.tensor(scale), sizes, dim)
    ours = pycnn.split(x * pycnn.tensor(scale.astype(np.float32)), sizes, dim)
    weights = [rng.standard_normal(tuple(ref[i].shape)) for i in used]
    ref_loss = sum((ref[i] * torch.tensor(w)).sum() for i, w in zip(used, weights)) + ref[used[0]].pow(2).sum()
    our_loss = sum((ours[i] * pycnn.tensor(w.astype(np.float32))).sum() for i, w in zip(used, weights))
    (our_loss + (ours[used[0]] * ours[used[0]]).sum()).backward()
    ref_loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-5, atol=1e-5)
    unused = [i for i in range(len(ref)) if i not in used]
    begins = np.cumsum([0] + [r.shape[dim] for r in ref])
    for i in unused:  # exactly zero where no used part reads
        place = [slice(None)] * len(shape)
        place[dim] = slice(begins[i], begins[i + 1])
        assert not x.grad.numpy()[tuple(place)].any()


def test_split_backward_twice_and_part_by_part_accumulates_like_torch():
    """Two backward passes through one retained graph, then one per part: every pass starts afresh
    (the gradients the parts hand to the split are not kept from one pass to the next)."""
    rng = np.random.default_rng(3)
    data, weights = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    ref_x = torch.tensor(data, requires_grad=True)
    x = pycnn.tensor(data.astype(np.float32), requires_grad=True)
    for lib, t, w in ((torch, ref_x, torch.tensor(weights)), (pycnn, x, pycnn.tensor(weights.astype(np.float32)))):
        a, b, c = lib.split(t * w, [1, 3, 2], 1)
        loss = (a * a).sum() + (c * 3).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        a, b, c = lib.chunk(t * w, 3, 0)
        b.sum().backward(retain_graph=True)
        (c * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ref_x.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_split_of_integer_data_matches_torch():
    data = np.arange(24).reshape(4, 6)
    ref = torch.split(torch.tensor(data), [2, 0, 4], 1)
    ours = pycnn.split(pycnn.tensor(data), [2, 0, 4], 1)
    for o, r in zip(ours, ref):
        assert o.dtype == "int64"
        np.testing.assert_array_equal(o.numpy(), r.numpy())


@pytest.mark.parametrize("call, error, words", [
    (lambda x: pycnn.split(x, [2, 2], 0), ValueError, "expected sizes that add up to 5"),
    (lambda x: pycnn.split(x, [6, -1], 0), ValueError, "expected sizes that add up to 5"),
    (lambda x: pycnn.split(x, 0, 0), ValueError, "expected a positive split size"),
    (lambda x: pycnn.split(x, -2, 0), ValueError, "expected a positive split size"),
    (lambda x: pycnn.split(x, 2, 2), IndexError, "Dimension out of range"),  # torch's IndexError
    (lambda x: pycnn.split(x, 2.5, 0), TypeError, "split_size_or_sections"),
    (lambda x: pycnn.chunk(x, 0, 0), ValueError, "expected chunks greater than 0, got 0"),
    (lambda x: pycnn.split(np.ones(3), 1), TypeError, "split"),
])
def test_bad_arguments_raise(call, error, words):
    with pytest.raises(error, match=words):
        call(pycnn.tensor(np.ones((5, 3), np.float32)))
