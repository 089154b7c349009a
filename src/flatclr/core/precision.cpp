#include "flatclr/core/precision.h"

#include <ATen/cuda/CUDAContext.h>

#include <fstream>
#include <sstream>
#include <string>

#include "flatclr/core/error.h"

namespace flatclr::core {

CpuBf16 cpu_bf16() {
  CpuBf16 out;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      if (w == "avx512_bf16") out.avx512_bf16 = true;
      if (w == "amx_bf16") out.amx_bf16 = true;
    }
    break;  // every core lists the same flags
  }
  return out;
}

namespace {

bool gpu_has_bf16(const c10::Device& device) {
  return at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index())->major >= 8;
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
  if (requested == Precision::kAuto) return cpu_bf16().amx_bf16 ? Precision::kBf16 : Precision::kFp32;
  if (requested == Precision::kFp16) {
    fail_usage(Field{"precision"}, "=fp16 (also what ", Field{"fp16_precision"},
               "=true asks for) is for GPUs: a CPU has no fast fp16 kernels. On a CPU use bf16 or fp32");
  }
  return requested;
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
