// The pointwise losses on the CPU (pointwise_loss.h: l1, smooth_l1, huber, binary_cross_entropy and
// with logits): each element's loss and gradients from the header's formulas (the CUDA kernels call
// the same ones), Mean/Sum accumulated in double over parallel_range's chunks, added in chunk order.
#include "pycnn/ops/pointwise_loss.h"

#include <omp.h>

#include <vector>

#include "parallel.h"
#include "pycnn/deterministic.h"

namespace pycnn::cpu {

namespace {
// Below this many elements one thread: a loss is usually a few thousand floats.
constexpr int64_t kLossParallel = int64_t(1) << 15;
}  // namespace

void pointwise_loss_forward(float* loss, const float* x, const float* t, const float* p,
                            const PointwiseLossShape& s) {
  const int64_t n = s.n;
  const PointwiseLoss kind = s.kind;
  const float a = s.param;
  if (s.reduction == Reduction::None) {
    parallel_range(
        n,
        [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i)
            loss[i] = pointwise_loss_value(kind, a, x[i], t[i], p ? p[i] : 1.0f);
        },
        kLossParallel);
    return;
  }
  // Chunk sums in double, one slot per chunk, summed in order: the same total on any thread count
  // that splits n alike (deterministic mode keeps one chunk).
  const int chunks = deterministic() || n < kLossParallel ? 1 : omp_get_max_threads();
  std::vector<double> part(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) num_threads(chunks) if (chunks > 1)
  for (int c = 0; c < chunks; ++c) {
    double acc = 0.0;
    for (int64_t i = n * c / chunks; i < n * (c + 1) / chunks; ++i)
      acc += pointwise_loss_value(kind, a, x[i], t[i], p ? p[i] : 1.0f);
    part[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (double v : part) total += v;
  // The mean of no elements is 0/0 = NaN, as in PyTorch.
  loss[0] =
      static_cast<float>(s.reduction == Reduction::Mean ? total / static_cast<double>(n) : total);
}

void pointwise_loss_backward(float* dx, float* dt, const float* dloss, const float* x,
                             const float* t, const float* p, const PointwiseLossShape& s) {
  const int64_t n = s.n;
  const PointwiseLoss kind = s.kind;
  const float a = s.param;
  const bool per_element = s.reduction == Reduction::None;
  const float scale = per_element                      ? 0.0f
                      : s.reduction == Reduction::Mean ? dloss[0] / static_cast<float>(n)
                                                       : dloss[0];
  parallel_range(
      n,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          float gx, gt;
          pointwise_loss_grads(kind, a, x[i], t[i], p ? p[i] : 1.0f, &gx, &gt);
          const float g = per_element ? dloss[i] : scale;
          if (dx) dx[i] = gx * g;
          if (dt) dt[i] = gt * g;
        }
      },
      kLossParallel);
}

}  // namespace pycnn::cpu
