#include "flatclr/core/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace flatclr::core {

int set_num_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

int cores_per_process(int processes_per_machine) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, processes_per_machine));
}

}  // namespace flatclr::core
