"""sigmoid: forward and backward against torch float64 on random shapes of rank 0 to 4. The cases
are helpers/saturating_cases.py's, shared with tanh (test_tanh.py), plus sigmoid's saturation values."""
import pycnn
import pycnn.nn.functional as F
from helpers.saturating_cases import make_tests

test_sigmoid_matches_torch, test_sigmoid_rejects_bad_input = make_tests("sigmoid", seed=102)


def test_sigmoid_saturates_without_nan(device):
    y = F.sigmoid(pycnn.tensor([-1000.0, 0.0, 1000.0], device=device))
    assert y.numpy().tolist() == [0.0, 0.5, 1.0]
