// conv2d_prepared: the inference convolution of pycnn/ops/conv2d_prepared.h.
//
// First version: each group's weights packed once for gemm_packed_a; per image and group the input
// is unrolled by the training kernel's route (im2col) and multiplied; the epilogue follows.
#include "pycnn/ops/conv2d_prepared.h"

#include <algorithm>

#include "pycnn/gemm.h"
#include "scratch.h"

namespace pycnn::cpu {

PreparedConv2d::PreparedConv2d(const float* w, const float* b, const Conv2dShape& s) : s_(s) {
  s_.validate();
  const int64_t K = s_.col_rows(), cout_g = s_.cout_per_group();
  const int64_t per_group = packed_a_floats(cout_g, K);
  packed_.resize(static_cast<size_t>(per_group * s_.groups));
  for (int64_t g = 0; g < s_.groups; ++g)
    pack_a(packed_.data() + g * per_group, w + g * cout_g * K, K, cout_g, K, false);
  bias_.assign(static_cast<size_t>(s_.C_out), 0.0f);
  if (b) std::copy(b, b + s_.C_out, bias_.begin());
}

void PreparedConv2d::forward(float* y, const float* x, const Conv2dEpilogue& e) const {
  const Conv2dShape& s = s_;
  const int64_t P = s.out_h() * s.out_w(), K = s.col_rows();
  const int64_t cin_g = s.cin_per_group(), cout_g = s.cout_per_group();
  const int64_t per_group = packed_a_floats(cout_g, K);
  // One image's unrolled input at a time (im2col of the whole image, every group in turn).
  Scratch col;
  float* c = col.get(static_cast<size_t>(K * P));
  for (int64_t n = 0; n < s.N; ++n) {
    for (int64_t g = 0; g < s.groups; ++g) {
      const float* x_g = x + (n * s.C_in + g * cin_g) * s.H * s.W;
      for (int64_t ci = 0; ci < cin_g; ++ci)
        for (int64_t kh = 0; kh < s.KH; ++kh)
          for (int64_t kw = 0; kw < s.KW; ++kw) {
            float* row = c + ((ci * s.KH + kh) * s.KW + kw) * P;
            for (int64_t oh = 0; oh < s.out_h(); ++oh)
              for (int64_t ow = 0; ow < s.out_w(); ++ow) {
                const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
                const int64_t iw = ow * s.stride_w - s.pad_w + kw * s.dil_w;
                const bool inside = ih >= 0 && ih < s.H && iw >= 0 && iw < s.W;
                row[oh * s.out_w() + ow] = inside ? x_g[(ci * s.H + ih) * s.W + iw] : 0.0f;
              }
          }
      gemm_packed_a(y + (n * s.C_out + g * cout_g) * P, P, packed_.data() + g * per_group, c, P,
                    cout_g, P, K, false, false);
    }
    for (int64_t co = 0; co < s.C_out; ++co) {
      float* y_c = y + (n * s.C_out + co) * P;
      const float* r_c = e.residual ? e.residual + (n * s.C_out + co) * P : nullptr;
      for (int64_t p = 0; p < P; ++p) {
        float v = y_c[p] + bias_[co];
        if (r_c) v += r_c[p];
        y_c[p] = std::min(std::max(v, e.clamp_min), e.clamp_max);
      }
    }
  }
}

}  // namespace pycnn::cpu
