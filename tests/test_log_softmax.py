"""log_softmax: forward and backward against torch float64 along every dim (negative too), large logits.
The cases are helpers/softmax_cases.py's, shared with softmax (test_softmax.py)."""
import pytest

from helpers import softmax_cases

CONFIGS, IDS = softmax_cases.configs(seed=108)


@pytest.mark.parametrize("shape,dim,scale", CONFIGS, ids=IDS)
def test_log_softmax_matches_torch(device, shape, dim, scale):
    softmax_cases.matches_torch("log_softmax", device, shape, dim, scale)


def test_log_softmax_large_logits_stay_finite(device):
    softmax_cases.large_logits_stay_finite("log_softmax", device)


def test_log_softmax_of_0d_tensor(device):
    softmax_cases.of_0d_tensor("log_softmax", device)


def test_log_softmax_rejects_bad_input(device):
    softmax_cases.rejects_bad_input("log_softmax", device)
