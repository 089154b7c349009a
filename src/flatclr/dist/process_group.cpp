#include "flatclr/dist/process_group.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/core/progress.h"
#include "flatclr/dist/compat.h"
#include "flatclr/dist/start_watchdog.h"
#include "flatclr/dist/store_join.h"

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

// What an exception from Gloo or c10d says, without c10's backtrace and trailing dots or newlines.
std::string cause_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);  // its what() carries a backtrace
  std::string cause = c10_error ? c10_error->what_without_backtrace() : e.what();
  while (!cause.empty() && (cause.back() == '.' || cause.back() == '\n')) cause.pop_back();
  return cause;
}

#ifdef FLATCLR_HAVE_DIST
// One Gloo device on the interface `name` of GLOO_SOCKET_IFNAME='names'. Gloo throws its own exception type
// (gloo::EnforceNotMet, not a c10::Error) for an interface it cannot find: whatever it throws becomes one
// line naming the variable and the value.
[[noreturn]] void bad_interface(const std::string& names, const std::string& name, const std::string& cause) {
  fail(
      "environment variable GLOO_SOCKET_IFNAME='", names, "': no usable network interface '", name,
      "' on this host (`ip -brief address` lists them; set it to the interface whose address the other hosts "
      "reach)",
      cause.empty() ? "" : ": " + cause);
}

std::shared_ptr<::gloo::transport::Device> device_for_interface(const std::string& names,
                                                                const std::string& name) {
  if (name.empty()) bad_interface(names, name, "an empty name in the comma-separated list");
  try {
    return c10d::ProcessGroupGloo::createDeviceForInterface(name);
  } catch (const std::exception& e) {
    bad_interface(names, name, cause_of(e));
  } catch (...) {
    bad_interface(names, name, "");
  }
}

// Gloo's devices as torch.distributed makes them for ProcessGroupGloo(store, rank, size, timeout): one per
// interface named in GLOO_SOCKET_IFNAME (comma-separated; PyTorch ignores a value of one character), else the
// address the hostname resolves to (createDefaultDevice, which falls back to loopback when that address is
// unusable). One addition: when the store is on a loopback address every rank is on this machine, and
// loopback is used directly, whatever the hostname resolves to.
std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const DistEnv& env) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> out;
  const std::string& names = env.gloo_socket_ifname;
  if (names.size() > 1) {
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = names.find(',', start);
      out.push_back(device_for_interface(
          names, names.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }
  try {
    out.push_back(is_loopback(env.master_addr) ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                               : c10d::ProcessGroupGloo::createDefaultDevice());
  } catch (const std::exception& e) {
    fail(
        "Gloo found no network address for this host from its hostname: ", cause_of(e),
        ". Set GLOO_SOCKET_IFNAME to the network interface the hosts share (`ip -brief address` lists them)");
  }
  return out;
}
#endif

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
  timeout_s_ = timeout_s;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  // A peer that died must surface as an error from the collective, not as SIGPIPE killing this process.
  std::signal(SIGPIPE, SIG_IGN);
  impl_ = std::make_unique<Impl>();
#ifdef FLATCLR_HAVE_DIST
  // Before anything connects: a wrong GLOO_SOCKET_IFNAME is one line about that variable.
  std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
  if (backend == "gloo") devices = gloo_devices(env);
#endif
  // The store, as torch.distributed's env:// rendezvous makes it (_create_c10d_store): under torchrun
  // (TORCHELASTIC_USE_AGENT_STORE=True) the agent on the first node already serves it at
  // MASTER_ADDR:MASTER_PORT and every rank joins as a client; otherwise rank 0 serves it. A client retries
  // connecting until the timeout, then throws.
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = rank_ == 0 && !env.agent_store;
  so.numWorkers = static_cast<std::size_t>(size_);
  // Every rank counts itself in (a client only adds to the count; the server, if this rank is it, waits for
  // all): as PyTorch's TCPStore(wait_for_workers=True), also against torchrun's agent store.
  so.waitWorkers = true;
  so.timeout = timeout;
  const auto start_error = [&](const std::string& stage, const std::string& cause) {
    const std::string hint =
        backend == "gloo"
            ? " Check that every host reaches MASTER_ADDR:MASTER_PORT, and set GLOO_SOCKET_IFNAME to the "
              "network "
              "interface the hosts share (the hostname may resolve to an address of another network)."
            : " Check that every host reaches MASTER_ADDR:MASTER_PORT; NCCL_SOCKET_IFNAME picks NCCL's "
              "interface.";
    return detail::concat(
        "could not start the ", backend, " process group as rank ", rank_, " of ", size_, " (", stage,
        ", MASTER_ADDR=", env.master_addr, " MASTER_PORT=", env.master_port,
        env.agent_store ? " served by torchrun's agent" : (rank_ == 0 ? " served by this rank" : ""),
        env.gloo_socket_ifname.empty() ? "" : " GLOO_SOCKET_IFNAME=" + env.gloo_socket_ifname, ", ",
        Field{"dist_timeout"}, "=", timeout_s, " s): ", cause, ".", hint);
  };
  std::string stage = "joining the store";
  // c10d bounds most waits by the timeout, not all of them (start_watchdog.h): a stage that overruns it by
  // 5 s ends the process with the same line.
  StartWatchdog watchdog(timeout + std::chrono::seconds(5), [&](const std::string& overran) {
    return start_error(overran,
                       "no answer within the timeout (is something other than this job's store "
                       "listening at MASTER_PORT?)");
  });
  watchdog.stage(stage);
  const auto joined_by = std::chrono::steady_clock::now() + timeout;
  try {
    if (!so.isServer) wait_for_server(env.master_addr, env.master_port, joined_by);
    c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    auto ours = c10::make_intrusive<c10d::PrefixStore>("flatclr", std::move(tcp));
    impl_->store =
        c10::make_intrusive<c10d::PrefixStore>(this_start_prefix(*ours, rank_, size_, joined_by), ours);
    stage = "connecting to the other ranks";
    watchdog.stage(stage);
    if (backend == "gloo") {
#ifdef FLATCLR_HAVE_DIST
      // Gloo waits 5 times its timeout for the first connection of each pair (tcp/pair.h), measured as a
      // 100 s wait for --dist_timeout=20: it connects with a fifth, and collectives then get the whole.
      auto opts =
          c10d::ProcessGroupGloo::Options::create(std::max(std::chrono::milliseconds(1), timeout / 5));
      opts->devices = std::move(devices);
      // Two threads per device, as torch.distributed's ProcessGroupGloo(store, rank, size, timeout).
      opts->threads = static_cast<int>(opts->devices.size()) * 2;
      auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, rank_, size_, opts);
      gloo->setTimeout(timeout);
      impl_->group = gloo;
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
    // The first collective, inside the same deadline: a group that formed but cannot exchange data (a peer
    // that connected on an address the others cannot reach) fails here, naming the set-up, not at step 1.
    stage = "the first collective";
    watchdog.stage(stage);
    std::vector<at::Tensor> one{at::zeros({1}, at::TensorOptions().device(impl_->device))};
    impl_->group->allreduce(one)->wait();
  } catch (const std::exception& e) {
    fail(start_error(stage, cause_of(e)));
  }
}

ProcessGroup::~ProcessGroup() = default;

template <typename Launch>
void ProcessGroup::run(const char* what, Launch&& launch) {
  Timer timer(comm_seconds_);
  ++collectives_;
  const auto start = std::chrono::steady_clock::now();
  try {
    launch()->wait();
  } catch (const std::exception& e) {
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fail("rank ", rank_, " of ", size_, " lost the ", backend_, " process group in ", what, " (collective #",
         collectives_, ") after ", core::fixed(waited, 1), " s (", Field{"dist_timeout"}, "=", timeout_s_,
         " s): ", cause_of(e),
         ". Another rank stopped, or its host or link went down; what is saved in the run folder is intact, "
         "and torchrun --max-restarts restarts the job from its newest checkpoint");
  }
}

void ProcessGroup::all_reduce_sum(at::Tensor& t) {
  if (size_ == 1) return;
  std::vector<at::Tensor> v{t};
  run("an all-reduce", [&] { return impl_->group->allreduce(v); });
}

at::Tensor ProcessGroup::all_gather(const at::Tensor& t) {
  if (size_ == 1) return t;
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(at::empty_like(in[0]));
  run("an all-gather", [&] { return impl_->group->allgather(out, in); });
  return at::cat(out[0], 0);
}

void ProcessGroup::broadcast(at::Tensor& t, int root) {
  if (size_ == 1) return;
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  run("a broadcast", [&] { return impl_->group->broadcast(v, o); });
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

int64_t ProcessGroup::sum_over_ranks(int64_t v) {
  if (size_ == 1) return v;
  auto t = at::full({1}, v, at::TensorOptions().device(impl_->device).dtype(at::kLong));
  all_reduce_sum(t);
  return t.cpu().item<int64_t>();
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
int64_t ProcessGroup::sum_over_ranks(int64_t v) { return v; }

#endif

}  // namespace flatclr::dist
