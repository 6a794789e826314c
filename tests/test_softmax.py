"""softmax: forward and backward against torch float64 along every dim (negative too), large logits.
The cases are helpers/softmax_cases.py's, shared with log_softmax (test_log_softmax.py)."""
from helpers.softmax_cases import make_tests

(test_softmax_matches_torch, test_softmax_large_logits_stay_finite, test_softmax_of_0d_tensor,
 test_softmax_rejects_bad_input) = make_tests("softmax", seed=107)
