#include "flatclr/dist/process_group.h"

#include <chrono>
#include <csignal>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/dist/compat.h"

namespace flatclr::dist {

bool distributed_available() {
#ifdef FLATCLR_HAVE_C10D
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef FLATCLR_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

#ifdef FLATCLR_HAVE_C10D

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::Collectives> group;
  c10::Device device = c10::Device(c10::kCPU);  // where the group's own tensors live
};

namespace {

class Timer {
 public:
  explicit Timer(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Timer() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

ProcessGroup::ProcessGroup(const DistEnv& env, const std::string& backend, double timeout_s)
    : rank_(env.rank), size_(env.world_size), backend_(backend) {
  if (size_ == 1) return;
  const Field flag{"dist_backend"};
  if (backend != "gloo" && backend != "nccl") fail(flag, "=", backend, ": expected gloo or nccl");
  if (backend == "nccl" && !nccl_available()) {
    fail(flag, "=nccl: this LibTorch has no NCCL process group (a CUDA build of LibTorch has it); use ", flag,
         "=gloo");
  }
#ifndef FLATCLR_HAVE_DIST
  if (backend == "gloo") {
    fail(flag,
         "=gloo: this flatclr was built without c10d's Gloo (CMake found no Gloo headers; scripts/setup.sh "
         "installs them); use ",
         flag, "=nccl on CUDA");
  }
#endif
  if (!(timeout_s > 0)) {
    fail(Field{"dist_timeout"}, "=", timeout_s, ": expected a positive number of seconds");
  }
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  // A peer that died must surface as an error from the collective, not as SIGPIPE killing this process.
  std::signal(SIGPIPE, SIG_IGN);
  impl_ = std::make_unique<Impl>();
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = rank_ == 0;
  so.numWorkers = static_cast<std::size_t>(size_);
  so.waitWorkers = true;
  so.timeout = timeout;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("flatclr", tcp);
    if (backend == "gloo") {
#ifdef FLATCLR_HAVE_DIST
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      opts->devices.push_back(is_loopback(env.master_addr)
                                  ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
      impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank_, size_, opts);
#endif
    } else {
#ifdef FLATCLR_HAVE_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, rank_, size_, opts);
      impl_->device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
      // The communicator now, on this rank's GPU (as init_process_group(device_id=...)): created lazily it
      // would take whatever device is current at the first collective, and a failure to connect would
      // surface there instead of here.
      nccl->setBoundDeviceId(impl_->device);
      nccl->eagerConnectSingleDevice(impl_->device);
      impl_->group = nccl;
#endif
    }
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);  // its what() carries a backtrace
    fail("could not start the ", backend, " process group as rank ", rank_, " of ", size_,
         " (MASTER_ADDR=", env.master_addr, " MASTER_PORT=", env.master_port, ", ", Field{"dist_timeout"},
         "=", timeout_s, " s): ", c10_error ? c10_error->what_without_backtrace() : e.what());
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_reduce_sum(at::Tensor& t) {
  if (size_ == 1) return;
  Timer timer(comm_seconds_);
  ++collectives_;
  std::vector<at::Tensor> v{t};
  impl_->group->allreduce(v)->wait();
}

at::Tensor ProcessGroup::all_gather(const at::Tensor& t) {
  if (size_ == 1) return t;
  Timer timer(comm_seconds_);
  ++collectives_;
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(at::empty_like(in[0]));
  impl_->group->allgather(out, in)->wait();
  return at::cat(out[0], 0);
}

void ProcessGroup::broadcast(at::Tensor& t, int root) {
  if (size_ == 1) return;
  Timer timer(comm_seconds_);
  ++collectives_;
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->group->broadcast(v, o)->wait();
}

void ProcessGroup::barrier() {
  if (size_ == 1) return;
  // A one-element all-reduce: a barrier that works the same on Gloo and NCCL.
  auto t = at::zeros({1}, at::TensorOptions().device(impl_->device));
  all_reduce_sum(t);
}

std::string ProcessGroup::broadcast_string(const std::string& s, int root) {
  if (size_ == 1) return s;
  const auto dev = at::TensorOptions().device(impl_->device);
  auto len = at::full({1}, static_cast<int64_t>(s.size()), dev.dtype(at::kLong));
  broadcast(len, root);
  const int64_t n = len.cpu().item<int64_t>();
  auto bytes = at::zeros({n}, at::TensorOptions().dtype(at::kByte));
  if (rank_ == root) std::copy(s.begin(), s.end(), bytes.data_ptr<uint8_t>());
  bytes = bytes.to(impl_->device);
  broadcast(bytes, root);
  bytes = bytes.cpu();
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(n));
}

#else  // no c10d in this build: a world of one process only

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(const DistEnv& env, const std::string& backend, double timeout_s)
    : rank_(env.rank), size_(env.world_size), backend_(backend) {
  if (size_ > 1) {
    fail("WORLD_SIZE=", size_,
         ": this flatclr was built without distributed support (CMake found no c10d with Gloo or NCCL; on "
         "Debian install libgloo-dev and reconfigure). Run a single process (unset WORLD_SIZE/RANK)");
  }
}

ProcessGroup::~ProcessGroup() = default;
void ProcessGroup::all_reduce_sum(at::Tensor&) {}
at::Tensor ProcessGroup::all_gather(const at::Tensor& t) { return t; }
void ProcessGroup::broadcast(at::Tensor&, int) {}
void ProcessGroup::barrier() {}
std::string ProcessGroup::broadcast_string(const std::string& s, int) { return s; }

#endif

}  // namespace flatclr::dist
