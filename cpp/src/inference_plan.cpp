// The inference plan's list of steps (see pycnn/inference_plan.h); the steps themselves are built
// by the binding (cpp/bindings/inference_plan.cpp) from the ops' CPU kernels.
#include "pycnn/inference_plan.h"

#include <chrono>
#include <stdexcept>
#include <utility>

#include "pycnn/check.h"

namespace pycnn {

InferencePlan::InferencePlan(int64_t arena_floats) : arena_floats_(arena_floats) {
  if (arena_floats < 0)
    value_error("InferencePlan: expected a non-negative arena size, got ", arena_floats);
}

void InferencePlan::add(std::string name, Step step) {
  names_.push_back(std::move(name));
  steps_.push_back(std::move(step));
}

void InferencePlan::check_range(int64_t offset, int64_t count, const std::string& what) const {
  if (offset < 0 || count < 0 || offset > arena_floats_ || count > arena_floats_ - offset)
    value_error("InferencePlan: ", what, " [", offset, ", ", offset, " + ", count,
                ") does not lie inside the arena of ", arena_floats_, " floats");
}

void InferencePlan::run(float* arena, int64_t begin, int64_t end, double* seconds) const {
  if (begin < 0 || end > size() || begin > end)
    value_error("InferencePlan.run: expected 0 <= begin <= end <= ", size(), ", got [", begin, ", ",
                end, ")");
  for (int64_t i = begin; i < end; ++i) {
    try {
      if (seconds) {  // profile(): each step timed; a plain run reads no clock
        const auto start = std::chrono::steady_clock::now();
        steps_[i](arena);
        seconds[i - begin] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      } else {
        steps_[i](arena);
      }
    } catch (const TypeError& e) {
      type_error("step '", names_[i], "': ", e.what());
    } catch (const RuntimeError& e) {
      runtime_error("step '", names_[i], "': ", e.what());
    } catch (const std::invalid_argument& e) {
      value_error("step '", names_[i], "': ", e.what());
    }
  }
}

}  // namespace pycnn
