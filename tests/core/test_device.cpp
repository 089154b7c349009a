// The engine this binary links (LibTorch 2.11 with CUDA compiled in, which runs on a machine without a GPU)
// and the choice of device from --device / --disable_cuda.
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <string>

#include "flatclr/core/device.h"
#include "flatclr/core/error.h"

using flatclr::core::resolve_device;

TEST(Engine, LinksLibTorch211WithCudaCompiledIn) {
  EXPECT_EQ(TORCH_VERSION_MAJOR, 2);
  EXPECT_EQ(TORCH_VERSION_MINOR, 11);
  // libtorch_cuda is loaded: its CUDA runtime hooks and device guard are registered even without a GPU.
  const auto& hooks = at::detail::getCUDAHooks();
  EXPECT_TRUE(hooks.hasCUDART());
  EXPECT_EQ(hooks.versionCUDART() / 1000, 13) << hooks.versionCUDART();
  EXPECT_TRUE(c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA));
}

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
