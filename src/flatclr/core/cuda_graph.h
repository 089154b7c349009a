// Capturing work into a CUDA graph (at::cuda::CUDAGraph) so that a capture that fails leaves the process in a
// state PyTorch supports. The work is captured once on a side stream of the device (the default stream cannot
// be captured) into a private memory pool; capturing runs nothing, so the caller replays the graph for the
// first result. A capture fails when the work does what a stream capture forbids: a host sync (.item(), a
// blocking copy, nonzero, boolean-mask indexing), a cudaMalloc of pinned memory in the capturing thread, and
// so on. CUDAGraph::capture_end() then throws before it tells the caching allocator that the capture is over,
// so the allocator would keep the capture as under way (its emptyCache() asserts, an out-of-memory retry
// skips freeing cached blocks) and the private pool would never be released; capture_cuda_graph() finishes
// both, for the device allocator and the pinned host one, and clears CUDA's last error.
//
// A CPU-only build (FLATCLR_CPU_ONLY, core/build_info.h) has no CUDA graphs: capture_cuda_graph() fails there
// as it does for a CPU device, and CudaGraph is a type no graph is ever made of.
#pragma once

#ifndef FLATCLR_CPU_ONLY
#include <ATen/cuda/CUDAGraph.h>
#endif
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>

namespace flatclr::core {

#ifdef FLATCLR_CPU_ONLY
struct CudaGraph {
  void replay();  // an internal error: capture_cuda_graph() never makes one
};
#else
using CudaGraph = at::cuda::CUDAGraph;
#endif

struct GraphCapture {
  std::unique_ptr<CudaGraph> graph;  // null when the capture failed
  std::string error;                 // why it failed (empty on success)
};

// device: a CUDA device. Waits for the device to be idle, then captures `work` (in the thread-local capture
// mode: other threads, a data loader's, may go on allocating pinned memory meanwhile). Exceptions of `work`
// and of the capture become `error`.
GraphCapture capture_cuda_graph(const c10::Device& device, const std::function<void()>& work);

}  // namespace flatclr::core
