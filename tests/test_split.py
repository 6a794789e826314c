"""pycnn.split / pycnn.chunk (and Tensor.split / Tensor.chunk) against torch.split / torch.chunk: the
parts' shapes and values, and the gradient of a weighted sum of the parts in float64, on sizes that do
and do not divide the dimension, lists of sizes, negative dims, empty parts; bad sizes raise."""
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
