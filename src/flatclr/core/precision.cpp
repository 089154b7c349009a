#include "flatclr/core/precision.h"

#ifndef FLATCLR_CPU_ONLY
#include <ATen/cuda/CUDAContext.h>
#endif

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "flatclr/core/error.h"

namespace flatclr::core {

CpuBf16 cpu_bf16() {
  CpuBf16 out;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    // x86 lists "flags", Arm "Features"; every core lists the same, so the first line decides.
    const bool x86 = line.rfind("flags", 0) == 0, arm = line.rfind("Features", 0) == 0;
    if (!x86 && !arm) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      if (w == "avx512_bf16") out.avx512_bf16 = true;
      if (w == "amx_bf16") out.amx_bf16 = true;
      if (w == "avx_ne_convert") out.avx_ne_convert = true;
      if (arm && w == "bf16") out.arm_bf16 = true;
    }
    break;
  }
  return out;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    // "model name" on x86; Arm kernels print no name, only "CPU implementer/part" numbers.
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    std::string name = line.substr(colon + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (!name.empty()) return name;
  }
  return "unknown CPU";
}

namespace {

bool gpu_has_bf16(const c10::Device& device) {
#ifdef FLATCLR_CPU_ONLY
  FLATCLR_CHECK(false, "a CPU-only build has no ", device);
  return false;
#else
  return at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index())->major >= 8;
#endif
}

}  // namespace

Precision resolve_precision(Precision requested, const c10::Device& device) {
  if (device.is_cuda()) {
    if (requested == Precision::kAuto) return gpu_has_bf16(device) ? Precision::kBf16 : Precision::kFp32;
    if (requested == Precision::kBf16 && !gpu_has_bf16(device)) {
      fail_usage(Field{"precision"},
                 "=bf16 needs a GPU of compute capability 8.0 or later; use fp16 or fp32");
    }
    return requested;
  }
  if (requested == Precision::kAuto) return Precision::kFp32;
  if (requested == Precision::kFp16) {
    fail_usage(Field{"precision"}, "=fp16 (also what ", Field{"fp16_precision"},
               "=true asks for) is for GPUs: a CPU has no fast fp16 kernels. On a CPU use bf16 or fp32");
  }
  return requested;
}

Precision choose_by_step_times(double fp32_seconds, double bf16_seconds) {
  const bool measured =
      std::isfinite(fp32_seconds) && std::isfinite(bf16_seconds) && fp32_seconds > 0 && bf16_seconds > 0;
  return measured && fp32_seconds >= kBf16MinSpeedup * bf16_seconds ? Precision::kBf16 : Precision::kFp32;
}

MemoryFormat resolve_memory_format(MemoryFormat requested) {
  return requested == MemoryFormat::kAuto ? MemoryFormat::kChannelsLast : requested;
}

c10::ScalarType compute_dtype(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return c10::kBFloat16;
    case Precision::kFp16:
      return c10::kHalf;
    default:
      return c10::kFloat;
  }
}

}  // namespace flatclr::core
