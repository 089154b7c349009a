// capture_cuda_graph (core/cuda_graph.h): a capture that succeeds replays its work; one that fails (a host
// sync inside) says why and leaves the process as PyTorch supports it: the caching allocator has no capture
// under way (emptyCache() works, memory can be allocated and freed), and a later capture succeeds. The CPU
// test checks the argument; the others need a GPU (scripts/gpu-check runs them on one) and the CUDA build.
#ifndef FLATCLR_CPU_ONLY
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "flatclr/core/cuda_graph.h"

using flatclr::core::capture_cuda_graph;

TEST(CudaGraph, NeedsACudaDevice) {
  EXPECT_THROW(capture_cuda_graph(torch::kCPU, [] {}), std::exception);
}

#ifndef FLATCLR_CPU_ONLY
TEST(CudaGraph, CapturedWorkReplaysOnNewInputs_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  const auto opts = torch::TensorOptions().device(torch::Device(torch::kCUDA, 0));
  auto x = torch::zeros({4}, opts), y = torch::zeros({4}, opts);
  auto capture = capture_cuda_graph(x.device(), [&] { y.copy_(x * 2 + 1); });
  ASSERT_TRUE(capture.graph) << capture.error;
  EXPECT_TRUE(capture.error.empty());
  EXPECT_EQ(y.sum().item<double>(), 0.0);  // capturing ran nothing
  x.copy_(torch::arange(4, opts.dtype(torch::kFloat)));
  capture.graph->replay();
  EXPECT_TRUE(torch::equal(y.cpu(), torch::tensor({1.0f, 3.0f, 5.0f, 7.0f})));
}

TEST(CudaGraph, FailedCaptureLeavesTheAllocatorUsable_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  const auto opts = torch::TensorOptions().device(torch::Device(torch::kCUDA, 0));
  auto x = torch::ones({1024}, opts);
  for (int attempt = 0; attempt < 2; ++attempt) {  // twice: nothing of the first failure lingers
    auto failed = capture_cuda_graph(x.device(), [&] {
      auto tmp = x * 3;                // allocated in the capture's private pool
      (void)tmp.sum().item<double>();  // a host sync: the capture is invalidated
    });
    EXPECT_FALSE(failed.graph);
    EXPECT_FALSE(failed.error.empty());
  }
  // The allocator has no capture under way: emptyCache() asserts otherwise.
  EXPECT_NO_THROW(c10::cuda::CUDACachingAllocator::emptyCache());
  auto big = torch::empty({64 << 20}, opts.dtype(torch::kByte));
  big.fill_(1);
  EXPECT_EQ(big.sum().item<int64_t>(), int64_t{64} << 20);
  big = at::Tensor();
  EXPECT_NO_THROW(c10::cuda::CUDACachingAllocator::emptyCache());
  // And the next capture works.
  auto y = torch::zeros({1024}, opts);
  auto ok = capture_cuda_graph(x.device(), [&] { y.copy_(x + 1); });
  ASSERT_TRUE(ok.graph) << ok.error;
  ok.graph->replay();
  EXPECT_EQ(y.sum().item<double>(), 2048.0);
}
#endif
