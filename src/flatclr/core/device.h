// Picks the training device from the run settings' device and disable_cuda, and, in a multi-process run,
// this process's local rank: every process trains on its own GPU, cuda:LOCAL_RANK (the torchrun convention;
// NCCL refuses two ranks on one GPU).
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace flatclr::core {

// What choose_device() needs to know of the machine and of this process.
struct DeviceContext {
  bool cuda_available = false;
  int cuda_device_count = 0;
  int world_size = 1;  // processes in the run
  int local_rank = 0;  // this process's rank on its machine
};

// The decision, a pure function of its inputs:
//   cpu, or disable_cuda            -> cpu
//   auto                            -> cuda:LOCAL_RANK when a GPU is visible, else cpu
//   cuda                            -> cuda:LOCAL_RANK
//   cuda:N                          -> cuda:N; in a multi-process run N must be LOCAL_RANK
// A CUDA choice without a GPU, an index beyond the visible GPUs, or a cuda:N that is not this rank's GPU is a
// UserError naming the field run.device. With one process LOCAL_RANK is normally 0.
c10::Device choose_device(const std::string& name, bool disable_cuda, const DeviceContext& context);

// A CPU-only build (core/build_info.h, cuda_build false) cannot use a GPU even where one is present: there, a
// CUDA choice (cuda, cuda:N; unless disable_cuda) is a UsageError naming run.device, the value and what to do.
// Nothing otherwise. RunSettings::validate() and resolve_device() call it with this build's kCudaBuild.
void check_device_in_build(const std::string& name, bool disable_cuda, bool cuda_build);

// check_device_in_build(), then choose_device() on this machine (torch::cuda's availability and device count).
c10::Device resolve_device(const std::string& name, bool disable_cuda, int world_size = 1,
                           int local_rank = 0);

// Makes a CUDA device the calling thread's current device (before any CUDA work of the run, so that nothing,
// NCCL's communicator or a library's handle, lands on GPU 0 by default); nothing for the CPU.
void make_current(const c10::Device& device);

}  // namespace flatclr::core
