// pycnn.use_deterministic_algorithms(True): results bitwise independent of the thread count.
//
// By default a kernel may split a sum over the batch by thread (conv2d's weight gradient: one partial
// sum per thread, then one reduction), so the rounding, and so training, changes with the thread
// count. In deterministic mode those sums run over fixed groups of the batch, summed in a fixed order,
// whatever the thread count, and the few reductions that OpenMP would split across threads run on
// one thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace pycnn {

inline std::atomic<bool>& deterministic_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

inline bool deterministic() { return deterministic_flag().load(std::memory_order_relaxed); }

// The batch groups of a deterministic sum: enough to keep 8 threads busy, few enough that their
// partial sums (one weight-sized buffer each) stay small.
constexpr int64_t kDeterministicGroups = 8;

}  // namespace pycnn
