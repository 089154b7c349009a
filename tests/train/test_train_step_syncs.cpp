// The sync-free step (train/train_step.h, StepOptions::sync_free) and its monitoring dispatch no operator
// that makes a GPU wait for the host or the host for the GPU. A CUDA graph capture fails on any of them, and
// an eager step on a GPU stalls on each; on the CPU nothing shows, so the operators one sync-free step
// dispatches are recorded here with LibTorch's RecordFunction callbacks and checked against the kinds that
// synchronise on a GPU:
//   - a read of a device value on the host: aten::_local_scalar_dense / item, is_nonzero, equal, allclose;
//   - an operator whose output size depends on the data: nonzero, masked_select, unique, argwhere, ...;
//   - indexing with a boolean mask (a nonzero inside), or index_put_ of a host scalar (a 0-dim value: on CUDA
//   a
//     CPU tensor copied to the device with a stream sync);
//   - a copy with an explicit CPU device (to(kCPU), .cpu(), or a host tensor made here and moved): the step
//     is written device-agnostically, so on a GPU any such call is a host-device copy.
// This file is kept apart from test_train_step.cpp because it tests the step's dispatch, not its numbers.
// What the CPU cannot show (a kernel that syncs inside its own CUDA implementation, a cudaMalloc during the
// capture) is left to CudaGraphCaptureOfTheStepIsSyncFree_CUDA in test_train_step.cpp.
#include <ATen/record_function.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/similarity.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/step_monitor.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;

namespace {

// Why an operator call would synchronise on a GPU ("" when it would not). nested: called from inside another
// operator or an autograd node rather than by flatclr's code.
std::string sync_reason(const std::string& name, c10::ArrayRef<const c10::IValue> inputs, bool nested) {
  static const std::set<std::string> host_reads = {"aten::_local_scalar_dense", "aten::item",
                                                   "aten::is_nonzero", "aten::equal", "aten::allclose"};
  static const std::set<std::string> data_sized = {
      "aten::nonzero", "aten::nonzero_numpy", "aten::argwhere",   "aten::masked_select",     "aten::unique",
      "aten::_unique", "aten::_unique2",      "aten::unique_dim", "aten::unique_consecutive"};
  if (host_reads.count(name)) return "reads a device value on the host";
  if (data_sized.count(name)) return "its output size depends on the data";
  if (name == "aten::index" || name == "aten::index_put_" || name == "aten::_index_put_impl_" ||
      name == "aten::index_put") {
    if (inputs.size() > 1 && inputs[1].isList()) {
      for (const auto& index : inputs[1].toListRef()) {
        if (index.isTensor() &&
            (index.toTensor().scalar_type() == at::kBool || index.toTensor().scalar_type() == at::kByte)) {
          return "indexes with a boolean mask";
        }
      }
    }
    if (name != "aten::index" && inputs.size() > 2 && inputs[2].isTensor() &&
        inputs[2].toTensor().dim() == 0) {
      return "writes a host scalar by index";
    }
  }
  // Only flatclr's own calls: inside an operator (autocast's casts) or a backward node (ToCopyBackward) a
  // `to` names the tensor's own device, which on a GPU is the GPU; on the CPU both look alike.
  if (name == "aten::to" && !nested) {
    for (const auto& v : inputs) {
      if (v.isDevice() && v.toDevice().is_cpu()) return "copies to or from the host";
    }
  }
  return "";
}

// Every operator dispatched between the constructor and stop(), with the reason it would sync on a GPU.
class SyncRecorder {
 public:
  SyncRecorder() {
    active_ = this;
    handle_ = at::addGlobalCallback(
        at::RecordFunctionCallback(&SyncRecorder::on_start, &SyncRecorder::on_end).needsInputs(true));
  }
  ~SyncRecorder() { stop(); }
  void stop() {
    if (handle_ != 0) at::removeCallback(handle_);
    handle_ = 0;
    active_ = nullptr;
  }
  std::vector<std::string> syncs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return syncs_;
  }
  std::vector<std::string> ops() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ops_;
  }

 private:
  static std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
    const bool nested = depth_++ > 0;
    SyncRecorder* self = active_;
    if (!self) return nullptr;
    const std::string name = fn.name();
    const std::string why = sync_reason(name, fn.inputs(), nested);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->ops_.push_back(name);
    if (!why.empty()) self->syncs_.push_back(name + ": " + why);
    return nullptr;
  }

  static void on_end(const at::RecordFunction&, at::ObserverContext*) {
    if (depth_ > 0) --depth_;
  }

  static inline SyncRecorder* active_ = nullptr;
  static inline thread_local int depth_ = 0;  // records open on this thread
  at::CallbackHandle handle_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::string> syncs_, ops_;
};

std::string joined(const std::vector<std::string>& v) {
  std::ostringstream os;
  for (const auto& s : v) os << "\n  " << s;
  return os.str();
}

models::ResNet tiny_model() {
  torch::manual_seed(7);
  models::ResNetOptions o;
  o.arch = models::Arch::kRes10;
  o.width_multiplier = 0.125;
  o.head.out_dim = 16;
  models::ResNet m(o);
  m->train();
  return m;
}

}  // namespace

// The recorder itself: each kind of sync is caught, and ordinary device arithmetic is not.
TEST(SyncRecorder, CatchesEachKindOfHostSync) {
  const auto x = torch::rand({4, 4});
  const auto mask = x > 0.5;
  const std::vector<std::pair<std::string, std::function<void()>>> cases = {
      {"item", [&] { (void)x.sum().item<double>(); }},
      {"nonzero", [&] { (void)mask.nonzero(); }},
      {"masked_select", [&] { (void)x.masked_select(mask); }},
      {"boolean-mask indexing", [&] { (void)x.index({mask}); }},
      {"index_put_ of a host scalar",
       [&] {
         x.clone().index_put_({torch::arange(4), torch::arange(4)}, 1.0);
       }},
      {"to the CPU", [&] { (void)x.cpu(); }},
      {"a host tensor moved to the device",
       [&] {
         (void)torch::tensor({1.0, 2.0}).to(x.device());
       }},
  };
  for (const auto& [what, f] : cases) {
    SyncRecorder rec;
    f();
    rec.stop();
    EXPECT_FALSE(rec.syncs().empty()) << what << " was not caught; ops:" << joined(rec.ops());
  }
  SyncRecorder rec;
  auto y = (x * 2 + 1).masked_fill(mask, -1.0).logsumexp(1);
  (void)torch::where(mask, x, 0.0).sum();
  (void)x.to(at::kDouble);
  rec.stop();
  EXPECT_TRUE(rec.syncs().empty()) << joined(rec.syncs());
}

// The positives' mask is built on the device by comparisons (no index_put_ of a host `true`).
TEST(SyncRecorder, NonNegativeMaskIsBuiltWithoutAHostScalar) {
  SyncRecorder rec;
  const auto mask = losses::non_negative_mask(6, torch::kCPU);
  rec.stop();
  EXPECT_TRUE(rec.syncs().empty()) << joined(rec.syncs());
  auto expected = torch::zeros({6, 6}, torch::kBool);
  for (int i = 0; i < 6; ++i) {
    expected[i][i] = true;
    expected[i][(i + 3) % 6] = true;
  }
  EXPECT_TRUE(torch::equal(mask, expected));
}

// One sync-free step after a warm-up step (which creates the optimizer's state), with what the trainer does
// around it every step: the monitor's diagnostics, the embeddings kept for the rank and the flags' copy. Both
// losses in fp32, and FlatCLR (the default) under bf16 and fp16 (autocast, the loss scaler).
TEST(TrainStep, SyncFreeStepAndItsMonitoringDispatchNoHostSync) {
  const std::vector<std::pair<core::Precision, losses::Method>> cases = {
      {core::Precision::kFp32, losses::Method::kSimCLR},
      {core::Precision::kFp32, losses::Method::kFlatCLR},
      {core::Precision::kBf16, losses::Method::kFlatCLR},
      {core::Precision::kFp16, losses::Method::kFlatCLR}};
  for (const auto& [precision, method] : cases) {
    {
      auto m = tiny_model();
      auto opt = optim::make_optimizer(optim::OptimizerKind::kLars, *m, 0.1, 1e-4, 0.9);
      dist::DataParallel one(dist::DistEnv{}, dist::BackendChoice::kGloo, 60, torch::kCPU);
      train::StepOptions so;
      so.method = method;
      so.precision = precision;
      so.sync_free = true;
      so.restore_buffers = true;
      train::TrainStep step(m, *opt, one, so);
      train::StepMonitor monitor(so.temperature, 4, /*rank_every=*/1);
      torch::manual_seed(3);
      const auto warmup = torch::rand({8, 3, 8, 8}), views = torch::rand({8, 3, 8, 8});
      step.run(warmup, 0.1);
      std::vector<std::string> syncs;
      {
        SyncRecorder rec;
        const train::StepResult r = step.run(views, 0.1);
        const at::Tensor applied = r.flags.select(0, 2);
        if (monitor.wants_embeddings()) monitor.observe_embeddings(r.h, r.z, applied);
        monitor.observe_step(r.out, r.grad_norm, applied, 0.0, 0.0);
        const at::Tensor kept = r.flags.clone();
        rec.stop();
        syncs = rec.syncs();
        EXPECT_GT(rec.ops().size(), 100u);  // the whole step was recorded
      }
      EXPECT_TRUE(syncs.empty()) << core::name_of(precision) << " " << losses::method_info(method).name << ":"
                                 << joined(syncs);
      // The interval's end reads everything at once (the one sync it is allowed). fp16 on the CPU may
      // overflow at the initial scale: the scaler's routine skip.
      const auto o = train::read_outcome(step.run(views, 0.1).flags);
      EXPECT_TRUE(o.applied || o.scaler_skipped);
      EXPECT_FALSE(monitor.flush(0.1).empty());
    }
  }
}
