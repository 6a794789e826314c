"""Float32 comparison tolerances that scale with what is compared, as torch.testing.assert_close's do.

assert_close's float32 defaults (rtol 1.3e-6, atol 1e-5) suit values of order 1 from short sums. Here
atol grows with the largest value compared (an error is relative to the values it came from, not to
1) and rtol with the square root of the longest reduction behind the values (the rounding error of a
sum of K float32 terms grows as sqrt(K) ulps in practice, K in the worst case), so that a build that
rounds differently (-O1, another summation order) passes while a wrong result still fails.
"""
import math

import numpy as np

FLOAT32_RTOL, FLOAT32_ATOL = 1.3e-6, 1e-5  # torch.testing.assert_close's defaults for float32


def float32_tolerances(expected, reduction=1):
    """(rtol, atol) for float32 results near ``expected`` computed through sums of ``reduction`` terms."""
    largest = float(np.abs(np.asarray(expected, dtype=np.float64)).max(initial=0.0))
    return FLOAT32_RTOL * math.sqrt(max(reduction, 1)), FLOAT32_ATOL * max(largest, 1.0)


def longest_reduction(model):
    """The longest dot product an ONNX model's weights take part in: the largest fan-in (product of the
    dims after the first) of any initializer of rank 2 or more, 1 when there is none."""
    return max([math.prod(t.dims[1:]) for t in model.graph.initializer if len(t.dims) >= 2], default=1)


def assert_close_float32(actual, expected, reduction=1, err_msg=""):
    rtol, atol = float32_tolerances(expected, reduction)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=err_msg)
