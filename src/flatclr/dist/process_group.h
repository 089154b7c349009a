// A process group on PyTorch's c10d: a TCPStore at MASTER_ADDR:MASTER_PORT (served by rank 0, or under
// torchrun by its agent), then Gloo (CPU tensors; the default on CPU; on the interfaces of GLOO_SOCKET_IFNAME
// when set) or NCCL (CUDA tensors; compiled in only where LibTorch has it; NCCL reads NCCL_SOCKET_IFNAME and
// its other variables itself, and flatclr leaves them as they are). Every
// collective is blocking and fails with an error, instead of hanging, when a peer died or did not answer
// within the timeout. A world of one process needs no c10d: every collective is then the identity.
// The time spent inside collectives is accumulated (comm_seconds), for the scaling benchmark and logs.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "flatclr/dist/dist_env.h"

namespace flatclr::dist {

// Whether this build has c10d with Gloo (FLATCLR_HAVE_DIST) / NCCL (FLATCLR_HAVE_NCCL).
bool distributed_available();
bool nccl_available();

class ProcessGroup {
 public:
  // backend: gloo | nccl. timeout_s bounds each stage of the start (joining the store, connecting to the
  // other ranks, a first barrier) and every collective. Throws UserError when env.world_size > 1 and this
  // build has no distributed support, when the backend is unavailable, or when the group does not form in
  // time (naming the stage, MASTER_ADDR:MASTER_PORT and the timeout).
  ProcessGroup(const DistEnv& env, const std::string& backend, double timeout_s);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& backend() const { return backend_; }

  // In place: t becomes the sum of every rank's t (same shape and dtype everywhere).
  void all_reduce_sum(at::Tensor& t);
  // t: [n, ...] on every rank (same shape) -> [size*n, ...], rank r's rows at [r*n, (r+1)*n). No autograd.
  at::Tensor all_gather(const at::Tensor& t);
  // In place: t becomes root's t.
  void broadcast(at::Tensor& t, int root = 0);
  void barrier();
  // root's value of s, on every rank.
  std::string broadcast_string(const std::string& s, int root = 0);
  // The sum of every rank's v, on every rank.
  int64_t sum_over_ranks(int64_t v);

  // Wall-clock seconds spent in collectives so far (includes waiting for slower ranks).
  double comm_seconds() const { return comm_seconds_; }
  // Collectives run so far (each all-reduce, all-gather, broadcast counts one).
  int64_t collectives() const { return collectives_; }

 private:
  struct Impl;
  // Runs `launch` (which starts one collective and returns its work) and waits for it, timed and counted;
  // a failure becomes the UserError described above.
  template <typename Launch>
  void run(const char* what, Launch&& launch);

  std::unique_ptr<Impl> impl_;
  double timeout_s_ = 0;
  int rank_ = 0, size_ = 1;
  std::string backend_;
  double comm_seconds_ = 0;
  int64_t collectives_ = 0;
};

}  // namespace flatclr::dist
