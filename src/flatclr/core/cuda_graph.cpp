#include "flatclr/core/cuda_graph.h"

#include "flatclr/core/error.h"

#ifdef FLATCLR_CPU_ONLY

namespace flatclr::core {

void CudaGraph::replay() { FLATCLR_CHECK(false, "a CPU-only build has no CUDA graphs"); }

GraphCapture capture_cuda_graph(const c10::Device& device, const std::function<void()>& work) {
  FLATCLR_CHECK(device.is_cuda() && device.has_index(), "a CUDA graph needs a CUDA device, got ", device);
  GraphCapture result;
  result.error = "this flatclr is a CPU-only build: it has no CUDA graphs";
  return result;
}

}  // namespace flatclr::core

#else

#include <ATen/core/CachingHostAllocator.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace flatclr::core {

namespace {

std::string message_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);  // its what() carries a backtrace
  return c10_error ? c10_error->what_without_backtrace() : e.what();
}

// What capture_end() leaves undone when it throws before its capture ended (ATen's CUDAGraph.cpp: the
// allocators' endAllocateToPool comes after cudaStreamEndCapture succeeded, the pool's release only in
// reset() of a graph whose capture ended). Each step may already be done, depending on where capture_end()
// threw.
void release_failed_capture(at::cuda::CUDAGraph& graph, c10::DeviceIndex device, c10::MempoolId_t pool) {
  try {
    (void)graph.pool();  // throws unless the capture ended (the graph then releases the pool itself)
    return;
  } catch (const std::exception&) {
  }
  // Each call may fail where capture_begin() or capture_end() threw elsewhere than expected (the pool not
  // created yet, or no longer under capture); what the others do still has to be done.
  const auto attempt = [](const auto& f) {
    try {
      f();
    } catch (const std::exception&) {
    }
  };
  attempt([&] { c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool); });
  attempt([&] { at::getHostAllocator(at::kCUDA)->end_allocate_to_pool(pool); });
  attempt([&] { c10::cuda::CUDACachingAllocator::releasePool(device, pool); });
  attempt([&] { at::getHostAllocator(at::kCUDA)->release_pool(pool); });
}

// The waits before and after a capture are deliberate (the capture must not take in work queued before it),
// not the syncs that CUDA's sync debug mode is set to catch, so it is paused around them.
void deliberate_device_synchronize() {
  auto& state = c10::cuda::warning_state();
  const auto mode = state.get_sync_debug_mode();
  state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
  c10::cuda::device_synchronize();
  state.set_sync_debug_mode(mode);
}

}  // namespace

GraphCapture capture_cuda_graph(const c10::Device& device, const std::function<void()>& work) {
  FLATCLR_CHECK(device.is_cuda() && device.has_index(), "a CUDA graph needs a CUDA device, got ", device);
  c10::cuda::CUDAGuard on_device(device.index());
  deliberate_device_synchronize();  // everything queued before the capture has run
  GraphCapture result;
  result.graph = std::make_unique<at::cuda::CUDAGraph>();
  // Our own pool id: the graph's is private, and a failed capture has to release it.
  const c10::MempoolId_t pool = at::cuda::graph_pool_handle();
  bool began = false;
  try {
    c10::cuda::CUDAStreamGuard side(c10::cuda::getStreamFromPool(false, device.index()));
    began = true;  // from here on the allocators may hold the pool
    result.graph->capture_begin(pool, cudaStreamCaptureModeThreadLocal);
    try {
      work();
    } catch (...) {
      try {
        result.graph->capture_end();  // ends the (invalidated) capture; its own error is the lesser one
      } catch (const std::exception&) {
      }
      throw;
    }
    result.graph->capture_end();
  } catch (const std::exception& e) {
    result.error = message_of(e);
    if (began) release_failed_capture(*result.graph, device.index(), pool);
    result.graph.reset();
    C10_CUDA_CLEAR_ERROR();  // a capture error is not sticky; leave none for the next CUDA check to find
    return result;
  }
  deliberate_device_synchronize();
  return result;
}

}  // namespace flatclr::core

#endif  // FLATCLR_CPU_ONLY
