// Wall-clock timing of steps and phases: a monotonic clock and the seconds since a time point.
#pragma once

#include <chrono>

namespace flatclr::core {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace flatclr::core
