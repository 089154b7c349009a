// Which build of flatclr this is. With the CUDA toolkit at configure time CMake builds against the wheel's
// whole LibTorch (libtorch_cuda included): the CUDA build. Without it, against the wheel's CPU libraries only
// (libtorch_cpu, libc10), defining FLATCLR_CPU_ONLY: the CPU-only build, in which the CUDA code paths (CUDA
// graphs, NCCL, device properties) are compiled out and a CUDA device is an error that says so.
#pragma once

#include <torch/version.h>

#include <string>

namespace flatclr::core {

#ifdef FLATCLR_CPU_ONLY
inline constexpr bool kCudaBuild = false;
#else
inline constexpr bool kCudaBuild = true;
#endif

// One line for --help, e.g. "CUDA build (LibTorch 2.11.0): uses a GPU when one is visible".
inline std::string build_description() {
  const std::string torch = "LibTorch " + std::string(TORCH_VERSION);
  if (kCudaBuild) return "CUDA build (" + torch + "): uses a GPU when one is visible, else the CPU";
  return "CPU-only build (" + torch +
         " without CUDA): runs on the CPU; GPU support needs a build with the CUDA toolkit 13.0 (nvcc) installed";
}

}  // namespace flatclr::core
