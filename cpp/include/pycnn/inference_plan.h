// The inference plan: a network compiled for one input shape into a list of kernel calls over one
// float arena, run by a single C++ call with no Python between ops (pycnn.inference builds it).
//
// Every value of the network (input, activations, outputs) lives at a fixed offset of the arena,
// chosen by the Python memory planner so that buffers whose lifetimes do not overlap share memory.
// A step reads and writes only arena offsets and the constants it owns (weights are copied, folded
// and packed when the step is added), so one plan may run on several arenas at once: two threads
// calling run() with their own arena never share a byte.
//
// Steps are added in running order; run(arena, begin, end) runs steps [begin, end), so the caller
// may interleave the plan's C++ stretches with ops only Python can run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pycnn {

class InferencePlan {
 public:
  using Step = std::function<void(float* arena)>;

  explicit InferencePlan(int64_t arena_floats);

  // Appends a step named `name` (the graph node it runs, for error messages).
  void add(std::string name, Step step);
  // Raises ValueError naming `what` unless [offset, offset + count) lies inside the arena.
  void check_range(int64_t offset, int64_t count, const std::string& what) const;
  // Runs steps [begin, end) on `arena` (at least arena_floats() floats); an error from a step is
  // raised again with the step's name in front. With `seconds` (end - begin of them), each step's
  // wall time is written there (a profile of the steps as they run in the whole plan, caches as
  // the steps before left them).
  void run(float* arena, int64_t begin, int64_t end, double* seconds = nullptr) const;

  int64_t arena_floats() const { return arena_floats_; }
  int64_t size() const { return static_cast<int64_t>(steps_.size()); }
  const std::vector<std::string>& names() const { return names_; }  // one per step, in order

 private:
  int64_t arena_floats_;
  std::vector<std::string> names_;
  std::vector<Step> steps_;
};

}  // namespace pycnn
