"""log_softmax: forward and backward against torch float64 along every dim (negative too), large
logits. The cases are helpers/softmax_cases.py's, shared with softmax (test_softmax.py)."""
from helpers.softmax_cases import make_tests

(test_log_softmax_matches_torch, test_log_softmax_large_logits_stay_finite,
 test_log_softmax_of_0d_tensor, test_log_softmax_rejects_bad_input) = make_tests("log_softmax",
                                                                                 seed=108)
