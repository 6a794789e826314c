// gelu: y = x * Phi(x), elementwise over a tensor of any shape (torch.nn.GELU), Phi the standard
// normal CDF, exactly (approximate='none') or by torch's tanh formula (approximate='tanh').
//
//   'none'  forward  y  = x * Phi(x),  Phi(x) = erfc(-x / sqrt2) / 2  (erfc, not 1 + erf, keeps the
//                                      relative accuracy of the left tail)
//           backward dx = dy * (Phi(x) + x * e^(-x^2/2) / sqrt(2 pi))
//   'tanh'   forward  y  = x/2 * (1 + tanh(u)) = x * sigmoid(2u),  u = sqrt(2/pi) (x + 0.044715 x^3)
//           backward dx = dy * (s + 2 x s (1 - s) u'),  s = sigmoid(2u), u' = sqrt(2/pi)(1 + 3*0.044715 x^2)
//                    (torch's formula with 1 + tanh = 2s and 1 - tanh^2 = 4 s (1 - s))
//   Both from the saved input. At x = +-inf the backward is NaN (inf * 0), as in torch.
//
// Accumulation contract: dx is overwritten (=).
#pragma once

#include <cstdint>

namespace pycnn {

namespace cpu {
void gelu_forward(float* y, const float* x, bool tanh_approximation, int64_t n);
void gelu_backward(float* dx, const float* dy, const float* x, bool tanh_approximation, int64_t n);
}  // namespace cpu

namespace cuda {
void gelu_forward(float* y, const float* x, bool tanh_approximation, int64_t n);
void gelu_backward(float* dx, const float* dy, const float* x, bool tanh_approximation, int64_t n);
}  // namespace cuda

}  // namespace pycnn
