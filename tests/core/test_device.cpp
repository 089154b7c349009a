// The engine this binary links (LibTorch 2.11 with CUDA compiled in, which runs on a machine without a GPU; in
// the CPU-only build its CPU libraries alone) and the choice of device from --device / --disable_cuda, the
// build, the world size and the local rank.
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#ifndef FLATCLR_CPU_ONLY
#include <c10/cuda/CUDAFunctions.h>
#endif
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <optional>
#include <string>

#include "flatclr/core/build_info.h"
#include "flatclr/core/device.h"
#include "flatclr/core/error.h"

using flatclr::core::resolve_device;

#ifdef FLATCLR_CPU_ONLY
// libtorch_cuda is not linked: no CUDA runtime hooks are registered, so LibTorch sees no GPU even on a machine
// with one.
TEST(Engine, CpuOnlyBuildLinksLibTorch211WithoutCuda) {
  EXPECT_EQ(TORCH_VERSION_MAJOR, 2);
  EXPECT_EQ(TORCH_VERSION_MINOR, 11);
  EXPECT_FALSE(flatclr::core::kCudaBuild);
  EXPECT_FALSE(at::detail::getCUDAHooks().hasCUDART());
  EXPECT_FALSE(torch::cuda::is_available());
  EXPECT_NE(flatclr::core::build_description().find("CPU-only build"), std::string::npos);
}
#else
TEST(Engine, LinksLibTorch211WithCudaCompiledIn) {
  EXPECT_EQ(TORCH_VERSION_MAJOR, 2);
  EXPECT_EQ(TORCH_VERSION_MINOR, 11);
  // libtorch_cuda is loaded: its CUDA runtime hooks and device guard are registered even without a GPU.
  const auto& hooks = at::detail::getCUDAHooks();
  EXPECT_TRUE(hooks.hasCUDART());
  EXPECT_EQ(hooks.versionCUDART() / 1000, 13) << hooks.versionCUDART();
  EXPECT_TRUE(c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA));
  EXPECT_TRUE(flatclr::core::kCudaBuild);
  EXPECT_NE(flatclr::core::build_description().find("CUDA build"), std::string::npos);
}
#endif

TEST(Device, AutoIsCudaExactlyWhenAGpuIsVisible) {
  const c10::Device d = resolve_device("auto", false);
  EXPECT_EQ(d.is_cuda(), torch::cuda::is_available());
  EXPECT_TRUE(resolve_device("auto", /*disable_cuda=*/true).is_cpu());
  EXPECT_TRUE(resolve_device("cpu", false).is_cpu());
}

TEST(Device, CudaWithoutAGpuIsAUserErrorNamingTheFlag) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is visible";
  try {
    resolve_device("cuda:0", false);
    FAIL() << "no error";
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("`run.device`=cuda:0"), std::string::npos) << e.what();
  }
}

// A CPU-only build refuses every CUDA choice with a usage error that names the flag's field, the value, the
// build and what to do; auto, cpu and --disable_cuda pass, and a CUDA build passes everything on to
// choose_device().
TEST(Device, CudaInACpuOnlyBuildIsAUsageErrorNamingTheFieldAndTheBuild) {
  using flatclr::core::check_device_in_build;
  for (const std::string name : {"cuda", "cuda:0", "cuda:1"}) {
    try {
      check_device_in_build(name, /*disable_cuda=*/false, /*cuda_build=*/false);
      ADD_FAILURE() << name << ": no error";
    } catch (const flatclr::UsageError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("`run.device`=" + name + ": this flatclr is a CPU-only build"), std::string::npos) << m;
      EXPECT_NE(m.find("use `run.device`=cpu or auto"), std::string::npos) << m;
      EXPECT_NE(m.find("CUDA toolkit 13.0"), std::string::npos) << m;
    }
    EXPECT_NO_THROW(check_device_in_build(name, /*disable_cuda=*/true, /*cuda_build=*/false)) << name;
    EXPECT_NO_THROW(check_device_in_build(name, /*disable_cuda=*/false, /*cuda_build=*/true)) << name;
  }
  for (const std::string name : {"auto", "cpu"}) {
    EXPECT_NO_THROW(check_device_in_build(name, false, /*cuda_build=*/false)) << name;
  }
  // This build: resolve_device() applies the check with its own kind.
  if (!flatclr::core::kCudaBuild) EXPECT_THROW(resolve_device("cuda", false), flatclr::UsageError);
  EXPECT_TRUE(resolve_device("auto", false).is_cpu() || flatclr::core::kCudaBuild);
}

// The decision itself, for every --device (auto, cuda, cuda:N, cpu) x disable_cuda x world size x local rank
// on a machine with 0 or 2 GPUs, against the rule written out here: cpu stays cpu; auto is cpu without a
// GPU; otherwise every process trains on cuda:LOCAL_RANK, which must exist; an explicit cuda:N must exist
// and, with more than one process, be cuda:LOCAL_RANK.
TEST(Device, ChoiceForEveryFlagWorldSizeAndLocalRank) {
  using flatclr::core::choose_device;
  using flatclr::core::DeviceContext;
  int checked = 0;
  for (const int gpus : {0, 2}) {
    for (const int world : {1, 2, 4}) {
      for (int local = 0; local < std::min(world, 3); ++local) {
        for (const bool disable : {false, true}) {
          for (const std::string name : {"auto", "cuda", "cuda:0", "cuda:1", "cuda:2", "cpu"}) {
            DeviceContext ctx;
            ctx.cuda_available = gpus > 0;
            ctx.cuda_device_count = gpus;
            ctx.world_size = world;
            ctx.local_rank = local;
            const std::string what = name + " gpus=" + std::to_string(gpus) +
                                     " world=" + std::to_string(world) + " local=" + std::to_string(local) +
                                     (disable ? " disable_cuda" : "");
            // The rule.
            std::optional<c10::Device> expected;
            std::string error;  // a part of the expected message
            const int explicit_index = name.rfind("cuda:", 0) == 0 ? std::stoi(name.substr(5)) : -1;
            if (disable || name == "cpu" || (name == "auto" && gpus == 0)) {
              expected = c10::Device(c10::kCPU);
            } else if (gpus == 0) {
              error = "no CUDA device is available";
            } else if (explicit_index >= gpus) {
              error = "only 2 CUDA device(s) are visible";
            } else if (explicit_index >= 0 && world > 1 && explicit_index != local) {
              error = "LOCAL_RANK=" + std::to_string(local);
            } else if (explicit_index >= 0) {
              expected = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(explicit_index));
            } else if (local >= gpus) {
              error = "only 2 CUDA device(s) are visible";
            } else {
              expected = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local));
            }
            if (expected) {
              EXPECT_EQ(choose_device(name, disable, ctx), *expected) << what;
            } else {
              try {
                const c10::Device got = choose_device(name, disable, ctx);
                ADD_FAILURE() << what << ": expected an error, got " << got;
              } catch (const flatclr::UserError& e) {
                const std::string message = e.what();
                EXPECT_NE(message.find("`run.device`=" + name), std::string::npos) << what << ": " << message;
                EXPECT_NE(message.find(error), std::string::npos) << what << ": " << message;
              }
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * (1 + 2 + 3) * 2 * 6);
}

// The message a mismatched cuda:N gets in a multi-process run: it names the flag, the rank's GPU and the fix.
TEST(Device, MismatchedCudaIndexInAMultiProcessRunNamesTheRanksGpu) {
  flatclr::core::DeviceContext ctx;
  ctx.cuda_available = true;
  ctx.cuda_device_count = 4;
  ctx.world_size = 4;
  ctx.local_rank = 2;
  try {
    flatclr::core::choose_device("cuda:0", false, ctx);
    FAIL() << "no error";
  } catch (const flatclr::UserError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("`run.device`=cuda:0 in a run of 4 processes"), std::string::npos) << m;
    EXPECT_NE(m.find("cuda:LOCAL_RANK, and this one has LOCAL_RANK=2"), std::string::npos) << m;
  }
  EXPECT_EQ(flatclr::core::choose_device("cuda:2", false, ctx), c10::Device("cuda:2"));
}

#ifndef FLATCLR_CPU_ONLY
// Each rank's GPU becomes the current device (the one a library's lazily created handle would use).
TEST(Device, MakeCurrentSelectsTheRanksGpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  const int last = static_cast<int>(torch::cuda::device_count()) - 1;
  flatclr::core::make_current(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(last)));
  EXPECT_EQ(c10::cuda::current_device(), last);
  flatclr::core::make_current(c10::Device(c10::kCUDA, 0));
  EXPECT_EQ(c10::cuda::current_device(), 0);
}
#endif
