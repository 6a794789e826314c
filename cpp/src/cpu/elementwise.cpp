// elementwise on the CPU. Same-shape operands (residual adds) and a scalar operand take a flat,
// vectorisable loop; everything else first merges neighbouring dimensions that both operands walk
// alike ([N, C, H, W] * [N, C, 1, 1], a squeeze-and-excitation scale, becomes [N*C, H*W] * [N*C, 1])
// and then walks rows of the innermost merged dimension, each row one vectorised loop (an operand
// read along it or held for it), the rows split over the threads.
#include "pycnn/ops/elementwise.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace pycnn {

BroadcastShape BroadcastShape::make(const Shape& a, const Shape& b, const char* op) {
  numel_of(a), numel_of(b);  // negative sizes and counts past 2^60 refused before the strides
  const size_t nd = std::max(a.size(), b.size());
  BroadcastShape s;
  s.out.assign(nd, 1);
  s.a_strides.assign(nd, 0);
  s.b_strides.assign(nd, 0);
  int64_t sa = 1, sb = 1;
  for (size_t k = 0; k < nd; ++k) {
    const size_t i = nd - 1 - k;
    const int64_t da = k < a.size() ? a[a.size() - 1 - k] : 1;
    const int64_t db = k < b.size() ? b[b.size() - 1 - k] : 1;
    if (da != db && da != 1 && db != 1)
      value_error(op, ": shapes ", shape_str(a), " and ", shape_str(b),
                  " do not broadcast (dimension ", i, ": ", da, " vs ", db, ")");
    s.out[i] = da == 1 ? db : da;
    s.a_strides[i] = da == 1 ? 0 : sa;
    s.b_strides[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
  }
  return s;
}

namespace cpu {

namespace {

inline float apply(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    default: return x / y;
  }
}

// Through parallel_range, whose serial path is the same vectorised body: `omp parallel for simd
// if (n > 65536)` left GCC's serial copy scalar (an add of 65536 floats took 75 us on one thread,
// one of 65537 18 us).
template <BinaryOp OP>
void flat(float* out, const float* a, const float* b, int64_t n, bool a_scalar, bool b_scalar) {
  if (!a_scalar && !b_scalar) {
    parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) out[i] = apply(OP, a[i], b[i]);
    });
  } else if (b_scalar) {
    const float y = b[0];
    parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) out[i] = apply(OP, a[i], y);
    });
  } else {
    const float x = a[0];
    parallel_range(n, [=](int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) out[i] = apply(OP, x, b[i]);
    });
  }
}

// One row of the general case: n outputs, each operand read along the row (stride 1), held (0) or
// strided; the common cases vectorise.
template <BinaryOp OP>
void row(float* __restrict o, const float* a, int64_t ia, const float* b, int64_t ib, int64_t n) {
  if (ia == 1 && ib == 1) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) o[j] = apply(OP, a[j], b[j]);
  } else if (ia == 1 && ib == 0) {
    const float y = b[0];
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) o[j] = apply(OP, a[j], y);
  } else if (ia == 0 && ib == 1) {
    const float x = a[0];
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) o[j] = apply(OP, x, b[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) o[j] = apply(OP, a[j * ia], b[j * ib]);
  }
}

// The general case: rows of the merged dimensions (StridedRows), each one vectorised loop.
template <BinaryOp OP>
void strided(float* out, const float* a, const float* b, const BroadcastShape& s) {
  const StridedRows<2> walk(s.out, {s.a_strides.data(), s.b_strides.data()});
  const int64_t inner = walk.inner(), ia = walk.step(0), ib = walk.step(1);
  walk.for_rows({0, 0}, [&](int64_t r, const std::array<int64_t, 2>& at) {
    row<OP>(out + r * inner, a + at[0], ia, b + at[1], ib, inner);
  });
}

}  // namespace

void binary_forward(float* out, const float* a, const float* b, BinaryOp op,
                    const BroadcastShape& s) {
  const int64_t n = numel_of(s.out);
  if (n == 0) return;
  const int nd = static_cast<int>(s.out.size());
  bool a_full = true, b_full = true, a_scalar = true, b_scalar = true;
  int64_t stride = 1;
  for (int i = nd - 1; i >= 0; --i) {
    if (s.out[i] == 1) continue;
    a_full &= s.a_strides[i] == stride;
    b_full &= s.b_strides[i] == stride;
    a_scalar &= s.a_strides[i] == 0;
    b_scalar &= s.b_strides[i] == 0;
    stride *= s.out[i];
  }
  if ((a_full || a_scalar) && (b_full || b_scalar)) {
    switch (op) {
      case BinaryOp::Add: return flat<BinaryOp::Add>(out, a, b, n, a_scalar, b_scalar);
      case BinaryOp::Sub: return flat<BinaryOp::Sub>(out, a, b, n, a_scalar, b_scalar);
      case BinaryOp::Mul: return flat<BinaryOp::Mul>(out, a, b, n, a_scalar, b_scalar);
      default: return flat<BinaryOp::Div>(out, a, b, n, a_scalar, b_scalar);
    }
  }
  switch (op) {
    case BinaryOp::Add: return strided<BinaryOp::Add>(out, a, b, s);
    case BinaryOp::Sub: return strided<BinaryOp::Sub>(out, a, b, s);
    case BinaryOp::Mul: return strided<BinaryOp::Mul>(out, a, b, s);
    default: return strided<BinaryOp::Div>(out, a, b, s);
  }
}

void sum_to(float* out, const float* in, const Shape& in_shape, const Shape& out_shape) {
  const int64_t n_out = numel_of(out_shape), n_in = numel_of(in_shape);
  std::memset(out, 0, n_out * sizeof(float));
  if (n_in == 0) return;
  // Where each input element lands: the output's strides, 0 on broadcast dimensions.
  BroadcastShape s = BroadcastShape::make(in_shape, out_shape, "sum_to");
  const int nd = static_cast<int>(in_shape.size());
  if (nd == 0) {
    out[0] = in[0];
    return;
  }
  std::vector<int64_t> index(nd, 0);
  const int64_t inner = in_shape[nd - 1], io = s.b_strides[nd - 1];
  int64_t off = 0;
  for (int64_t base = 0; base < n_in; base += inner) {
    const float* src = in + base;
    if (io == 0) {
      double sum = 0.0;
      for (int64_t j = 0; j < inner; ++j) sum += src[j];
      out[off] += static_cast<float>(sum);
    } else {
      for (int64_t j = 0; j < inner; ++j) out[off + j * io] += src[j];
    }
    for (int d = nd - 2; d >= 0; --d) {
      off += s.b_strides[d];
      if (++index[d] < in_shape[d]) break;
      off -= s.b_strides[d] * in_shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace cpu
}  // namespace pycnn
