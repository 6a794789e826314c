// parallel_range: the elementwise kernels' loop driver.
//
// `#pragma omp parallel for simd if (n > threshold)` looked right but GCC compiles a separate
// serial copy for the `if (false)` case that it does not vectorise (relu over 60K floats: 240 us
// serial vs 4 us parallel). Here the body is one function: the caller's thread runs it over the
// whole range below the threshold, each OpenMP thread over its share above it, and the loop inside
// the body is what gets vectorised, either way.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <mutex>
#include <vector>

namespace pycnn::cpu {

// Waking the other threads costs tens of microseconds when they have gone to sleep, but inside a
// training step or a plan they are still spinning from the op before: there two threads stream a
// relu of 300K floats (LeNet-5's first activation at batch 64) in 0.6x one thread's time. In
// LeNet-5's step at batch 64 (2 threads), the four ReLUs' forward 0.23 -> 0.14 ms and backward
// 0.27 -> 0.14 ms with this threshold at 64K floats instead of 1M. The thread governor holds the
// team at one thread when another process wants the cores.
constexpr int64_t kElementwiseParallel = int64_t(1) << 16;
// An optimizer's step reads each parameter, its gradient and its state cold (the rest of the training
// step has streamed the activations through the caches since), so two cores' memory bandwidth pays
// from fewer floats: LeNet-5's SGD (momentum) step at 2 threads 57 -> 48 us with its 48 K- and
// 10 K-float layers split.
constexpr int64_t kOptimizerParallel = int64_t(1) << 14;

template <typename Body>
void parallel_range(int64_t n, Body body, int64_t min_parallel = kElementwiseParallel) {
  if (n < min_parallel || omp_get_max_threads() == 1) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t chunk = (n + threads - 1) / threads;
    const int64_t begin = std::min(n, t * chunk), end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

// A strided walk of M operands over one shape (outermost first), in rows: dimensions of size 1
// dropped, and each merged into the one inside it where every operand steps across the pair as
// across one dimension (its stride is the inner one's times that one's size, or both are 0: a
// channel slice keeps each image's planes one run, a broadcast [32, 112, 112] * [32, 1, 1] is 32
// rows of 12544). for_rows(base, body) calls body(r, at) for each row r of the innermost merged
// dimension (inner() elements, operand m's stride step(m)), at[m] the offset of the row's first
// element in operand m (from base[m]), the rows split over the threads above kElementwiseParallel
// elements, an odometer over the outer dimensions started at each thread's first row. Serves the
// broadcast binary ops (elementwise.cpp) and strided_copy.
template <int M>
class StridedRows {
 public:
  StridedRows(const std::vector<int64_t>& shape, const std::array<const int64_t*, M>& strides) {
    for (int k = static_cast<int>(shape.size()) - 1; k >= 0; --k) {
      if (shape[k] == 0) empty_ = true;
      if (shape[k] == 1) continue;
      bool chains = !size_.empty();
      for (int m = 0; m < M && chains; ++m) {
        const int64_t d = strides[m][k], inside = stride_[m].back();
        chains = (d == 0 && inside == 0) || (d != 0 && d == inside * size_.back());
      }
      if (chains) {
        size_.back() *= shape[k];
        continue;
      }
      size_.push_back(shape[k]);
      for (int m = 0; m < M; ++m) stride_[m].push_back(strides[m][k]);
    }
    if (size_.empty()) {
      size_ = {1};
      for (auto& st : stride_) st = {0};
    }
  }
  int64_t inner() const { return size_[0]; }
  int64_t step(int m) const { return stride_[m][0]; }

  template <typename Body>
  void for_rows(std::array<int64_t, M> base, Body body) const {
    if (empty_) return;
    const int nd = static_cast<int>(size_.size());
    int64_t rows = 1;
    for (int d = 1; d < nd; ++d) rows *= size_[d];
    parallel_range(
        rows,
        [&](int64_t begin, int64_t end) {
          std::vector<int64_t> index(static_cast<size_t>(nd), 0);
          std::array<int64_t, M> at = base;
          for (int64_t d = 1, below = 1; d < nd; below *= size_[d], ++d) {  // row `begin`'s
            index[d] = begin / below % size_[d];
            for (int m = 0; m < M; ++m) at[m] += index[d] * stride_[m][d];
          }
          for (int64_t r = begin; r < end; ++r) {
            body(r, at);
            for (int d = 1; d < nd; ++d) {
              for (int m = 0; m < M; ++m) at[m] += stride_[m][d];
              if (++index[d] < size_[d]) break;
              for (int m = 0; m < M; ++m) at[m] -= stride_[m][d] * size_[d];
              index[d] = 0;
            }
          }
        },
        std::max<int64_t>(1, kElementwiseParallel / size_[0]));
  }

 private:
  std::vector<int64_t> size_;                   // innermost first
  std::array<std::vector<int64_t>, M> stride_;  // each operand's, innermost first
  bool empty_ = false;                          // a dimension of size 0
};

// A worksharing loop over tasks [0, n), inside a parallel region (every thread calls it): in a fixed
// order when `in_order` (thread t takes the t-th block of tasks, the same in every call) and first
// come, first served otherwise. A fixed order keeps a thread on the same part of the data from one
// call to the next (the convolutions of a batch-1 inference, where which core holds which lines
// decides the time); first come balances many tasks when one core runs slower (a busy neighbour),
// which a fixed order cannot.
template <typename Body>
void for_tasks(int64_t n, bool in_order, Body body) {
  if (in_order) {
#pragma omp for schedule(static)
    for (int64_t t = 0; t < n; ++t) body(t);
  } else {
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < n; ++t) body(t);
  }
}

// An exception must not leave an OpenMP region: the runtime calls std::terminate and the process
// aborts (conv2d's scratch allocation failing under a 2^31 padding did). Each thread runs its work
// through run(), which keeps the first exception; the caller rethrows it once the region has ended.
// Every thread still reaches every barrier, so a worksharing loop after a failure cannot deadlock.
class ParallelErrors {
 public:
  template <typename Work>
  void run(Work&& work) noexcept {
    try {
      work();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
    }
  }
  // True once some thread's work has thrown (call it after a barrier, where every thread sees the
  // same answer and so takes the same worksharing loops).
  bool failed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<bool>(first_);
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr first_;
};

// Partial results summed privately, then added together, in one parallel region: part(p) for
// p < parts on the threads (each through errors.run), and once every part is done (and none threw),
// add(b) for b < blocks, each block of the result summed from the parts by one thread. The adds
// need not wait for one thread to sum every part while the others wait.
template <typename Part, typename Add>
void sum_parts(ParallelErrors& errors, int threads, bool parallel, int64_t parts, int64_t blocks,
               Part part, Add add) {
#pragma omp parallel num_threads(threads) if (parallel)
  {
#pragma omp for schedule(static)
    for (int64_t p = 0; p < parts; ++p) errors.run([&] { part(p); });
    if (!errors.failed()) {
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; ++b) add(b);
    }
  }
}

}  // namespace pycnn::cpu
