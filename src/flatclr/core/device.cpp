#include "flatclr/core/device.h"

#include <torch/cuda.h>

#include "flatclr/core/error.h"

namespace flatclr::core {

c10::Device resolve_device(const std::string& name, bool disable_cuda) {
  const bool have_cuda = torch::cuda::is_available();
  if (disable_cuda || name == "cpu") return c10::Device(c10::kCPU);
  if (name == "auto") return have_cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (!have_cuda) {
    fail(Field{"run.device"}, "=", name, ": no CUDA device is available here (use ", Field{"run.device"},
         "=cpu or auto)");
  }
  try {
    c10::Device d(name);
    if (d.index() >= static_cast<int>(torch::cuda::device_count())) {
      fail(Field{"run.device"}, "=", name, ": only ", torch::cuda::device_count(),
           " CUDA device(s) are visible");
    }
    return d;
  } catch (const c10::Error&) {
    fail(Field{"run.device"}, "=", name, ": expected auto, cpu, cuda or cuda:N");
  }
}

}  // namespace flatclr::core
