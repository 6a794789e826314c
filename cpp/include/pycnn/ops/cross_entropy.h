// cross_entropy: log-softmax over the class dimension fused with the negative log-likelihood of the
// target class, as torch.nn.functional.cross_entropy with class-index targets.
//
//   input  x      [N, C, inner]   logits; (N, C, d1, ..., dk) viewed with inner = d1 * ... * dk
//   target t      [N, inner]      int64 class indices in [0, C), or ignore_index
//   output loss   [N, inner]      reduction None (0 where the target is ignored)
//                 [1]             reduction Mean (sum / number of non-ignored targets) or Sum
//
// Per position, with m = max_c x_c, lse = log sum_c exp(x_c - m) and eps = label_smoothing:
//   loss = lse - (1 - eps) * (x_t - m) - eps / C * sum_c (x_c - m)
//   dx_c = scale * (softmax_c - (1 - eps) * [c == t] - eps / C)
// where scale is dloss at the position (None), dloss[0] (Sum) or dloss[0] / valid (Mean).
//
// Accumulation contract: dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };

struct CrossEntropyShape {
  int64_t N, C, inner;
  int64_t ignore_index = -100;
  float label_smoothing = 0.0f;
  Reduction reduction = Reduction::Mean;
  int64_t positions() const { return N * inner; }
};

namespace cpu {
// Raises ValueError naming the first target outside [0, C) that is not ignore_index, before any
// output is written. Returns the number of non-ignored targets (the Mean divisor).
int64_t cross_entropy_forward(float* loss, const float* x, const int64_t* target,
                              const CrossEntropyShape& s);
// valid: the count cross_entropy_forward returned.
void cross_entropy_backward(float* dx, const float* dloss, const float* x, const int64_t* target,
                            int64_t valid, const CrossEntropyShape& s);
}  // namespace cpu

namespace cuda {
// Checks the targets on the device: the kernel records the first bad label it meets in a flag
// that is copied back with the count, and the launcher raises the same ValueError as the CPU.
int64_t cross_entropy_forward(float* loss, const float* x, const int64_t* target,
                              const CrossEntropyShape& s);
void cross_entropy_backward(float* dx, const float* dloss, const float* x, const int64_t* target,
                            int64_t valid, const CrossEntropyShape& s);
}  // namespace cuda

}  // namespace pycnn
