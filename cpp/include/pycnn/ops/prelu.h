// prelu: y = x > 0 ? x : w[c] * x, with one learned slope per channel (dim 1) or one for all, as
// torch.nn.functional.prelu.
//
//   input  x [outer, channels, inner]   (N, C, *) viewed with inner = prod of the trailing sizes;
//                                        a single slope is the view outer = 1, channels = 1, inner = n
//   weight w [channels]
//   output y [outer, channels, inner]
//
//   backward dx = x > 0 ? dy : w[c] * dy
//            dw[c] += sum over x <= 0 of dy * x
//
// Accumulation contract: dw accumulates (+=), dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

struct PreluShape {
  int64_t outer, channels, inner;
};

namespace cpu {
void prelu_forward(float* y, const float* x, const float* w, const PreluShape& s);
// dx or dw may be null to skip it.
void prelu_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                    const PreluShape& s);
}  // namespace cpu

namespace cuda {
void prelu_forward(float* y, const float* x, const float* w, const PreluShape& s);
void prelu_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                    const PreluShape& s);
}  // namespace cuda

}  // namespace pycnn
