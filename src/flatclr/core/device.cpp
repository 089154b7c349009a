#include "flatclr/core/device.h"

#ifndef FLATCLR_CPU_ONLY
#include <c10/cuda/CUDAFunctions.h>
#endif
#include <torch/cuda.h>

#include <optional>

#include "flatclr/core/build_info.h"
#include "flatclr/core/error.h"

namespace flatclr::core {

c10::Device choose_device(const std::string& name, bool disable_cuda, const DeviceContext& context) {
  if (disable_cuda || name == "cpu") return c10::Device(c10::kCPU);
  if (name == "auto" && !context.cuda_available) return c10::Device(c10::kCPU);
  const bool multi = context.world_size > 1;
  std::optional<c10::Device> parsed;
  if (name != "auto") {
    try {
      parsed = c10::Device(name);
    } catch (const c10::Error&) {
    }
    if (!parsed || !parsed->is_cuda())
      fail(Field{"run.device"}, "=", name, ": expected auto, cpu, cuda or cuda:N");
    if (!context.cuda_available) {
      fail(Field{"run.device"}, "=", name, ": no CUDA device is available here (use ", Field{"run.device"},
           "=cpu or auto)");
    }
  }
  const int count = context.cuda_device_count;
  if (parsed && parsed->has_index()) {
    const int index = parsed->index();
    if (index >= count) fail(Field{"run.device"}, "=", name, ": only ", count, " CUDA device(s) are visible");
    if (multi && index != context.local_rank) {
      fail(Field{"run.device"}, "=", name, " in a run of ", context.world_size,
           " processes: each process trains on its own GPU, cuda:LOCAL_RANK, and this one has LOCAL_RANK=",
           context.local_rank, " (use ", Field{"run.device"}, "=cuda or auto)");
    }
    return *parsed;
  }
  // auto or cuda: this process's GPU.
  if (context.local_rank >= count) {
    fail(Field{"run.device"}, "=", name, ": LOCAL_RANK=", context.local_rank,
         " trains on cuda:", context.local_rank, " but only ", count,
         " CUDA device(s) are visible (start at most one process per GPU on a machine, and leave "
         "CUDA_VISIBLE_DEVICES listing all of them)");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(context.local_rank));
}

void check_device_in_build(const std::string& name, bool disable_cuda, bool cuda_build) {
  if (cuda_build || disable_cuda || name.rfind("cuda", 0) != 0) return;
  fail_usage(Field{"run.device"}, "=", name,
             ": this flatclr is a CPU-only build (configured without the CUDA toolkit), so it cannot use a GPU; "
             "use ", Field{"run.device"}, "=cpu or auto, or rebuild flatclr with the CUDA toolkit 13.0 (nvcc) "
             "installed (scripts/setup.sh then makes the CUDA build)");
}

c10::Device resolve_device(const std::string& name, bool disable_cuda, int world_size, int local_rank) {
  check_device_in_build(name, disable_cuda, kCudaBuild);
  DeviceContext context;
  context.cuda_available = torch::cuda::is_available();
  context.cuda_device_count = context.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  context.world_size = world_size;
  context.local_rank = local_rank;
  return choose_device(name, disable_cuda, context);
}

void make_current(const c10::Device& device) {
  if (!device.is_cuda()) return;
#ifdef FLATCLR_CPU_ONLY
  FLATCLR_CHECK(false, "a CPU-only build cannot use ", device, " (resolve_device() refuses it)");
#else
  c10::cuda::set_device(device.index());
#endif
}

}  // namespace flatclr::core
