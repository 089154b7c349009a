// The trainer's step (train/train_step.h): one update equals the same update written out by hand; a
// non-finite step makes no update, clears the gradients and, when asked, leaves the BatchNorm statistics as
// they were. Also the method table (losses/method.h) the step takes its loss from.
#include <ATen/Context.h>
#ifndef FLATCLR_CPU_ONLY
#include <c10/cuda/CUDAFunctions.h>
#endif
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <vector>

#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/flat_nce.h"
#include "flatclr/losses/info_nce.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/grad_norm.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/step_monitor.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;

namespace {

models::ResNet tiny_model() {
  torch::manual_seed(7);
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes10;
  o.width_multiplier = 0.125;
  o.head.out_dim = 16;
  models::ResNet m(o);
  m->train();
  return m;
}

// The trainer's optimizer (LARS, lr 0.1, weight decay 1e-4, momentum 0.9) for a test model.
std::unique_ptr<torch::optim::Optimizer> lars(models::ResNet& m) {
  return optim::make_optimizer(optim::OptimizerKind::kLars, *m, 0.1, 1e-4, 0.9);
}

// A single process: every collective is the identity.
dist::DataParallel one_cpu_process() {
  return dist::DataParallel(dist::DistEnv{}, dist::BackendChoice::kGloo, 60, torch::kCPU);
}

// Every parameter and buffer of a model, copied, in float64.
std::vector<at::Tensor> state_of(models::ResNet& m) {
  std::vector<at::Tensor> s;
  for (const auto& p : m->parameters()) s.push_back(p.detach().to(torch::kDouble).cpu());
  for (const auto& b : m->buffers()) s.push_back(b.detach().to(torch::kDouble).cpu());
  return s;
}

// Each tensor of `got` within `share` of how far one step moved the reference (from `before` to `after`),
// tensor by tensor, plus 1e-7 for a tensor the step hardly moved: a test that two implementations of the same
// step agree to within rounding, which a missed, doubled or stale-batch update (a whole step apart) fails.
void expect_within_share_of_step(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& before,
                                 const std::vector<at::Tensor>& after, double share) {
  ASSERT_EQ(got.size(), after.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double moved = (after[i] - before[i]).abs().max().item<double>();
    const double diff = (got[i] - after[i]).abs().max().item<double>();
    EXPECT_LE(diff, share * moved + 1e-7) << "tensor " << i << ": the step moved it by " << moved;
  }
}

double max_param_diff(models::ResNet& a, models::ResNet& b) {
  double d = 0;
  auto pa = a->parameters(), pb = b->parameters();
  // A NaN on either side is an infinite difference (std::max would drop it).
  const auto fold = [&d](double x) {
    d = std::isnan(x) ? std::numeric_limits<double>::infinity() : std::max(d, x);
  };
  for (size_t i = 0; i < pa.size(); ++i) fold((pa[i] - pb[i]).abs().max().item<double>());
  auto ba = a->buffers(), bb = b->buffers();
  for (size_t i = 0; i < ba.size(); ++i)
    fold((ba[i].to(torch::kDouble) - bb[i].to(torch::kDouble)).abs().max().item<double>());
  return d;
}

}  // namespace

TEST(Method, TableMapsKeysNamesAndLosses) {
  ASSERT_EQ(losses::methods().size(), 2u);
  EXPECT_EQ(losses::find_method("simclr"), losses::Method::kSimCLR);
  EXPECT_EQ(losses::find_method("flatclr"), losses::Method::kFlatCLR);
  EXPECT_FALSE(losses::find_method("SimCLR").has_value());
  EXPECT_FALSE(losses::find_method("").has_value());
  EXPECT_STREQ(losses::method_info(losses::Method::kSimCLR).name, "SimCLR");
  EXPECT_STREQ(losses::method_info(losses::Method::kFlatCLR).loss_name, "FlatNCE");
  EXPECT_EQ(losses::method_info(losses::Method::kSimCLR).loss, &losses::info_nce_loss);
  EXPECT_EQ(losses::method_info(losses::Method::kFlatCLR).loss, &losses::flat_nce_loss);
}

TEST(TrainStep, OneUpdateEqualsTheUpdateWrittenOut) {
  for (const auto method : {losses::Method::kSimCLR, losses::Method::kFlatCLR}) {
    auto a = tiny_model(), b = tiny_model();
    auto opt_a = lars(a);
    auto opt_b = lars(b);
    dist::DataParallel one = one_cpu_process();
    train::StepOptions so;
    so.method = method;
    so.temperature = 0.2;
    train::TrainStep step(a, *opt_a, one, so);
    for (int s = 0; s < 3; ++s) {
      const auto views = torch::rand({8, 3, 8, 8});
      const double lr = 0.05 * (s + 1);
      const train::StepResult r = step.run(views, lr);
      ASSERT_TRUE(r.finite);
      // By hand.
      auto [h, z] = b->forward(views);
      auto out = losses::method_info(method).loss(z, 0.2);
      opt_b->zero_grad();
      out.loss.backward();
      const auto norm = optim::global_grad_norm(b->parameters());
      optim::set_lr(*opt_b, lr);
      opt_b->step();
      EXPECT_EQ(r.out.info_nce.item<double>(), out.info_nce.item<double>());
      EXPECT_EQ(r.grad_norm.item<double>(), norm.item<double>());
      EXPECT_EQ(r.z.sizes(), z.sizes());
      EXPECT_EQ(r.h.sizes(), h.sizes());
      EXPECT_EQ(r.grad_sync_collectives, 0);
      EXPECT_EQ(max_param_diff(a, b), 0.0) << "step " << s;
    }
  }
}

TEST(TrainStep, NonFiniteStepMakesNoUpdateAndCanRestoreBatchNorm) {
  for (const bool restore : {false, true}) {
    auto m = tiny_model(), reference = tiny_model();
    auto opt = lars(m);
    dist::DataParallel one = one_cpu_process();
    train::StepOptions so;
    so.restore_buffers = restore;
    train::TrainStep step(m, *opt, one, so);
    auto views = torch::rand({8, 3, 8, 8});
    views[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
    const train::StepResult r = step.run(views, 0.1);
    EXPECT_FALSE(r.finite);
    EXPECT_TRUE(r.bad_loss);
    EXPECT_TRUE(std::isnan(r.bad_value));
    // No parameter moved; the gradients are cleared.
    auto p = m->parameters(), q = reference->parameters();
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_TRUE(torch::equal(p[i], q[i])) << i;
      EXPECT_TRUE(!p[i].grad().defined() || p[i].grad().abs().sum().item<double>() == 0.0) << i;
    }
    // BatchNorm statistics: as before the step with restore_buffers, moved (and poisoned) without it.
    bool buffers_equal = true;
    auto bm = m->buffers(), br = reference->buffers();
    for (size_t i = 0; i < bm.size(); ++i) buffers_equal = buffers_equal && torch::equal(bm[i], br[i]);
    EXPECT_EQ(buffers_equal, restore);
  }
}

// Mixed precision: the encoder runs in bf16, the loss in float32 outside autocast. On the same features the
// step's loss equals the float32 loss exactly, and against a float32 step on the same weights and views the
// loss and the gradients agree within bf16's tolerance: 8 bits of mantissa through a ResNet, its BatchNorms
// at batch 16 and back. Measured here: features 0.5-1% apart, the loss 0.1%, the whole gradient 14% (cosine
// 0.99).
TEST(TrainStep, Bf16StepKeepsTheLossInFloat32AndAgreesWithFp32) {
  for (const auto method : {losses::Method::kSimCLR, losses::Method::kFlatCLR}) {
    auto a = tiny_model(), b = tiny_model();
    auto opt_a = lars(a);
    auto opt_b = lars(b);
    dist::DataParallel one = one_cpu_process();
    train::StepOptions so;
    so.method = method;
    so.temperature = 0.2;
    so.precision = core::Precision::kBf16;
    train::TrainStep bf16(a, *opt_a, one, so);
    so.precision = core::Precision::kFp32;
    train::TrainStep fp32(b, *opt_b, one, so);
    torch::manual_seed(11);
    const auto views = torch::rand({16, 3, 16, 16});
    const auto ra = bf16.run(views, 0.0), rb = fp32.run(views, 0.0);  // lr 0: compare gradients, not updates
    ASSERT_TRUE(ra.finite);
    EXPECT_EQ(ra.z.scalar_type(), torch::kFloat);
    EXPECT_EQ(ra.out.loss.scalar_type(), torch::kFloat);
    EXPECT_EQ(ra.out.info_nce.item<double>(),
              losses::method_info(method).loss(ra.z.detach(), 0.2).info_nce.item<double>());
    // The features themselves went through bf16: not bit-equal to float32's, but close.
    const double z_err = ((ra.z - rb.z).norm() / rb.z.norm()).item<double>();
    EXPECT_GT(z_err, 0.0);
    EXPECT_LT(z_err, 0.05);
    EXPECT_NEAR(ra.out.info_nce.item<double>(), rb.out.info_nce.item<double>(),
                0.02 * std::abs(rb.out.info_nce.item<double>()));
    auto pa = a->parameters(), pb = b->parameters();
    double num = 0, den = 0;
    for (size_t i = 0; i < pa.size(); ++i) {
      num += (pa[i].grad() - pb[i].grad()).pow(2).sum().item<double>();
      den += pb[i].grad().pow(2).sum().item<double>();
    }
    double dot = 0, na = 0;
    for (size_t i = 0; i < pa.size(); ++i) {
      dot += (pa[i].grad() * pb[i].grad()).sum().item<double>();
      na += pa[i].grad().pow(2).sum().item<double>();
    }
    EXPECT_LT(std::sqrt(num / den), 0.25) << losses::method_info(method).name;  // whole-model relative error
    EXPECT_GT(dot / std::sqrt(na * den), 0.97) << losses::method_info(method).name;  // cosine
    EXPECT_NEAR(ra.grad_norm.item<double>(), rb.grad_norm.item<double>(), 0.05 * rb.grad_norm.item<double>());
  }
}

// fp16 with loss scaling: a scale so large that the scaled gradients overflow makes the step a routine skip
// (no update, no error) and halves the scale; the next step at the smaller scale trains.
TEST(TrainStep, Fp16OverflowSkipsTheStepAndBacksOffTheScale) {
  auto m = tiny_model(), reference = tiny_model();
  auto opt = lars(m);
  dist::DataParallel one = one_cpu_process();
  optim::GradScalerOptions o;
  o.init_scale = 1e38;       // far beyond fp16's 65504: every scaled gradient overflows
  o.backoff_factor = 1e-35;  // then 1000, which fits
  optim::GradScaler scaler(o, torch::kCPU);
  train::StepOptions so;
  so.precision = core::Precision::kFp16;
  so.scaler = &scaler;
  train::TrainStep step(m, *opt, one, so);
  EXPECT_EQ(step.scaler(), &scaler);
  const auto views = torch::rand({8, 3, 8, 8});
  const auto r = step.run(views, 0.1);
  EXPECT_TRUE(r.finite);
  EXPECT_TRUE(r.scaler_skipped);
  EXPECT_NEAR(scaler.scale_value(), 1000.0, 1e-3);
  auto p = m->parameters(), q = reference->parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::equal(p[i], q[i])) << i;
  const auto r2 = step.run(views, 0.1);
  EXPECT_TRUE(r2.finite);
  EXPECT_FALSE(r2.scaler_skipped);
  EXPECT_TRUE(std::isfinite(r2.grad_norm.item<double>()));
  double moved = 0;
  for (size_t i = 0; i < p.size(); ++i) moved += (p[i] - q[i]).abs().sum().item<double>();
  EXPECT_GT(moved, 0.0);
}

// Channels-last inside the step: the same update as the contiguous step (up to the kernels' summation order).
TEST(TrainStep, ChannelsLastStepMatchesContiguous) {
  auto a = tiny_model(), b = tiny_model();
  models::to_channels_last(*a);
  auto opt_a = lars(a);
  auto opt_b = lars(b);
  dist::DataParallel one = one_cpu_process();
  train::StepOptions so;
  so.channels_last = true;
  train::TrainStep cl(a, *opt_a, one, so);
  so.channels_last = false;
  train::TrainStep plain(b, *opt_b, one, so);
  for (int s = 0; s < 2; ++s) {
    const auto views = torch::rand({8, 3, 16, 16});
    const auto ra = cl.run(views, 0.1), rb = plain.run(views, 0.1);
    EXPECT_NEAR(ra.out.info_nce.item<double>(), rb.out.info_nce.item<double>(), 1e-4);
  }
  EXPECT_LT(max_param_diff(a, b), 1e-4);
  for (const auto& p : a->parameters()) {
    if (p.dim() == 4) EXPECT_TRUE(p.is_contiguous(at::MemoryFormat::ChannelsLast));
  }
}

// The GPU paths: bf16 and fp16 (with its loss scaler) on CUDA, channels-last, against the float32 CPU step on
// the same weights and views. Skipped without a GPU (scripts/gpu-check runs it on one).
TEST(TrainStep, MixedPrecisionStepsOnTheGpuAgreeWithFp32OnTheCpu_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  torch::manual_seed(11);
  const auto views = torch::rand({16, 3, 16, 16});
  auto reference = tiny_model();
  auto opt_r = lars(reference);
  dist::DataParallel cpu = one_cpu_process();
  train::StepOptions so;
  train::TrainStep fp32(reference, *opt_r, cpu, so);
  const double expected = fp32.run(views, 0.0).out.info_nce.item<double>();
  for (const auto precision : {core::Precision::kBf16, core::Precision::kFp16}) {
    auto m = tiny_model();
    m->to(torch::kCUDA);
    models::to_channels_last(*m);
    auto opt = lars(m);
    dist::DataParallel gpu(dist::DistEnv{}, flatclr::dist::BackendChoice::kAuto, 60, torch::kCUDA);
    so.precision = precision;
    so.channels_last = true;
    train::TrainStep step(m, *opt, gpu, so);
    const auto r = step.run(views.to(torch::kCUDA), 0.1);
    ASSERT_TRUE(r.finite) << core::name_of(precision);
    EXPECT_EQ(r.out.loss.scalar_type(), torch::kFloat);
    // The forward loss does not depend on whether the update was made.
    EXPECT_NEAR(r.out.info_nce.item<double>(), expected, 0.02 * std::abs(expected))
        << core::name_of(precision);
    if (precision == core::Precision::kFp16) {
      // The first step may overflow at the initial scale 65536 (PyTorch's GradScaler expects that): a
      // routine skip that halves the scale, or an update at the scale as it was.
      ASSERT_NE(step.scaler(), nullptr);
      EXPECT_EQ(step.scaler()->scale_value(), r.scaler_skipped ? 32768.0 : 65536.0);
    } else {
      EXPECT_FALSE(r.scaler_skipped);
    }
  }
}

// The sync-free step (what runs on a GPU): the same updates as the guarded step, its outcome in its flags.
TEST(TrainStep, SyncFreeStepMakesTheGuardedStepsUpdates) {
  for (const auto method : {losses::Method::kSimCLR, losses::Method::kFlatCLR}) {
    auto a = tiny_model(), b = tiny_model();
    auto opt_a = lars(a);
    auto opt_b = lars(b);
    dist::DataParallel one = one_cpu_process();
    train::StepOptions so;
    so.method = method;
    so.restore_buffers = true;
    train::TrainStep guarded(a, *opt_a, one, so);
    so.sync_free = true;
    train::TrainStep sync_free(b, *opt_b, one, so);
    for (int s = 0; s < 3; ++s) {
      const auto views = torch::rand({8, 3, 8, 8});
      const double lr = 0.05 * (s + 1);
      const auto ra = guarded.run(views, lr), rb = sync_free.run(views, lr);
      EXPECT_TRUE(ra.outcome_known);
      EXPECT_FALSE(rb.outcome_known);
      const auto oa = train::read_outcome(ra.flags), ob = train::read_outcome(rb.flags);
      EXPECT_TRUE(oa.applied);
      EXPECT_TRUE(ob.applied);
      EXPECT_EQ(rb.flags[0].item<double>(), ra.out.info_nce.item<double>());
      EXPECT_EQ(rb.flags[1].item<double>(), ra.grad_norm.item<double>());
      EXPECT_EQ(max_param_diff(a, b), 0.0) << "step " << s;
      EXPECT_EQ(optim::get_lr(*opt_b), lr);  // the host's copy, which checkpoints save
    }
  }
}

// A non-finite step, decided on the device: no parameter moves and (restore_buffers) the BatchNorm statistics
// are as before it; the flags say what was wrong; the next good step trains as the guarded step does.
TEST(TrainStep, SyncFreeNonFiniteStepMakesNoUpdateOnTheDevice) {
  for (const bool restore : {false, true}) {
    auto m = tiny_model(), reference = tiny_model();
    auto opt = lars(m);
    auto opt_r = lars(reference);
    dist::DataParallel one = one_cpu_process();
    train::StepOptions so;
    so.restore_buffers = restore;
    train::TrainStep guarded(reference, *opt_r, one, so);
    so.sync_free = true;
    train::TrainStep step(m, *opt, one, so);
    auto views = torch::rand({8, 3, 8, 8});
    views[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
    const auto r = step.run(views, 0.1);
    const auto o = train::read_outcome(r.flags);
    EXPECT_FALSE(o.applied);
    EXPECT_FALSE(o.scaler_skipped);
    EXPECT_TRUE(o.bad_loss);
    EXPECT_TRUE(std::isnan(o.bad_value));
    guarded.run(views, 0.1);  // the same bad step, guarded on the host
    auto p = m->parameters(), q = reference->parameters();
    for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::equal(p[i], q[i])) << i;
    bool buffers_finite = true;
    for (const auto& b : m->buffers())
      buffers_finite = buffers_finite && torch::isfinite(b).all().item<bool>();
    EXPECT_EQ(buffers_finite, restore);
    if (restore) {
      const auto good = torch::rand({8, 3, 8, 8});
      step.run(good, 0.1);
      guarded.run(good, 0.1);
      EXPECT_EQ(max_param_diff(m, reference), 0.0);
    }
  }
}

// fp16 in the sync-free step: the overflow is the scaler's routine skip in the flags, the scale backs off on
// the device, nothing moves; the next step trains.
TEST(TrainStep, SyncFreeFp16OverflowIsTheScalersSkip) {
  auto m = tiny_model(), reference = tiny_model();
  auto opt = lars(m);
  dist::DataParallel one = one_cpu_process();
  optim::GradScalerOptions o;
  o.init_scale = 1e38;
  o.backoff_factor = 1e-35;
  optim::GradScaler scaler(o, torch::kCPU);
  train::StepOptions so;
  so.precision = core::Precision::kFp16;
  so.scaler = &scaler;
  so.sync_free = true;
  train::TrainStep step(m, *opt, one, so);
  const auto views = torch::rand({8, 3, 8, 8});
  const auto first = train::read_outcome(step.run(views, 0.1).flags);
  EXPECT_FALSE(first.applied);
  EXPECT_TRUE(first.scaler_skipped);
  EXPECT_NEAR(scaler.scale_value(), 1000.0, 1e-3);
  auto p = m->parameters(), q = reference->parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::equal(p[i], q[i])) << i;
  EXPECT_TRUE(train::read_outcome(step.run(views, 0.1).flags).applied);
  double moved = 0;
  for (size_t i = 0; i < p.size(); ++i) moved += (p[i] - q[i]).abs().sum().item<double>();
  EXPECT_GT(moved, 0.0);
}

TEST(TrainStep, SyncFreeNeedsLarsAndCudaGraphsNeedCuda) {
  auto m = tiny_model();
  dist::DataParallel one = one_cpu_process();
  auto sgd = optim::make_optimizer(flatclr::optim::OptimizerKind::kSgd, *m, 0.1, 1e-4, 0.9);
  train::StepOptions so;
  so.sync_free = true;
  EXPECT_THROW(train::TrainStep(m, *sgd, one, so), std::exception);
  auto with_lars = lars(m);
  so.cuda_graph = true;
  EXPECT_THROW(train::TrainStep(m, *with_lars, one, so), std::exception);  // a CPU model
}

// The CUDA graph: the first kGraphWarmupSteps steps eager, then captured and replayed; every step equals the
// eager sync-free step's on the same weights and views (up to cuDNN's summation order), a non-finite batch
// replayed through the graph moves nothing, and a batch of another shape runs eagerly. Skipped without a GPU
// (scripts/gpu-check runs it on one).
TEST(TrainStep, CudaGraphStepsMatchTheEagerSteps_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  auto a = tiny_model(), b = tiny_model();
  for (auto* m : {&a, &b}) {
    (*m)->to(torch::kCUDA);
    models::to_channels_last(**m);
  }
  auto opt_a = lars(a);
  auto opt_b = lars(b);
  dist::DataParallel gpu(dist::DistEnv{}, flatclr::dist::BackendChoice::kAuto, 60, torch::kCUDA);
  train::StepOptions so;
  so.sync_free = true;
  so.channels_last = true;
  so.restore_buffers = true;
  train::TrainStep eager(b, *opt_b, gpu, so);
  so.cuda_graph = true;
  train::TrainStep graphed(a, *opt_a, gpu, so);
  torch::manual_seed(5);
  for (int s = 0; s < train::kGraphWarmupSteps + 4; ++s) {
    const auto views = torch::rand({16, 3, 16, 16}).to(torch::kCUDA);
    const double lr = 0.02 * (s + 1);
    const auto ra = graphed.run(views, lr);
    const double loss_a = ra.flags[0].item<double>();  // read before the next replay overwrites it
    const auto rb = eager.run(views, lr);
    EXPECT_TRUE(train::read_outcome(ra.flags).applied) << "step " << s;
    EXPECT_NEAR(loss_a, rb.flags[0].item<double>(), 1e-4) << "step " << s;
    EXPECT_LT(max_param_diff(a, b), 1e-4) << "step " << s;
  }
  EXPECT_EQ(graphed.graph_replays(), 4);
  // A NaN batch through the graph: no update, BatchNorm statistics restored.
  std::vector<at::Tensor> before;
  for (const auto& p : a->parameters()) before.push_back(p.detach().clone());
  auto bad = torch::rand({16, 3, 16, 16});
  bad[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  const auto o = train::read_outcome(graphed.run(bad.to(torch::kCUDA), 0.1).flags);
  EXPECT_FALSE(o.applied);
  EXPECT_TRUE(o.bad_loss);
  EXPECT_EQ(graphed.graph_replays(), 5);
  auto p = a->parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::equal(p[i], before[i])) << i;
  for (const auto& buf : a->buffers()) EXPECT_TRUE(torch::isfinite(buf).all().item<bool>());
  // Another batch shape: eager, and still the right update. Measured on an H200: after this step the two
  // sides' states were 1.45e-4 apart (a BatchNorm statistic; cuDNN's float32 convolutions run in TF32 by
  // default and accumulate in an order that is not fixed), past an absolute 1e-4. So each tensor is held to a
  // share of how far this one step moved it: a missed, doubled or stale-batch update is a whole step apart,
  // far outside.
  const auto small = torch::rand({8, 3, 16, 16}).to(torch::kCUDA);
  EXPECT_TRUE(train::read_outcome(graphed.run(small, 0.05).flags).applied);
  eager.run(bad.to(torch::kCUDA), 0.1);
  const auto b_before = state_of(b);
  eager.run(small, 0.05);
  EXPECT_EQ(graphed.graph_replays(), 5);
  expect_within_share_of_step(state_of(a), b_before, state_of(b), 0.05);
}

namespace {

// The gradients of a model's parameters, copied (a CUDA graph's replay overwrites them).
std::vector<at::Tensor> gradients(models::ResNet& m) {
  std::vector<at::Tensor> g;
  for (const auto& p : m->parameters())
    g.push_back(p.grad().defined() ? p.grad().detach().clone() : at::Tensor());
  return g;
}

// ||a - b|| / ||b|| over all the tensors together, in float64.
double relative_difference(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].defined() || !b[i].defined()) continue;
    num += (a[i].to(torch::kDouble) - b[i].to(torch::kDouble)).pow(2).sum().item<double>();
    den += b[i].to(torch::kDouble).pow(2).sum().item<double>();
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

bool all_finite(const std::vector<at::Tensor>& ts) {
  for (const auto& t : ts)
    if (t.defined() && !torch::isfinite(t).all().item<bool>()) return false;
  return true;
}

// CUDA's sync debug mode: L_ERROR makes every synchronising call throw. A CPU-only build has none (and no GPU
// for the tests that use it, which skip).
void set_cuda_sync_debug_error(bool on) {
#ifndef FLATCLR_CPU_ONLY
  c10::cuda::warning_state().set_sync_debug_mode(on ? c10::cuda::SyncDebugMode::L_ERROR
                                                    : c10::cuda::SyncDebugMode::L_DISABLED);
#endif
}

// Puts CUDA's sync debug mode back (and cuDNN's benchmark mode) however the test ends.
struct CudaModesGuard {
#ifndef FLATCLR_CPU_ONLY
  c10::cuda::SyncDebugMode sync = c10::cuda::warning_state().get_sync_debug_mode();
#endif
  bool benchmark = at::globalContext().benchmarkCuDNN();
  ~CudaModesGuard() {
#ifndef FLATCLR_CPU_ONLY
    c10::cuda::warning_state().set_sync_debug_mode(sync);
#endif
    at::globalContext().setBenchmarkCuDNN(benchmark);
  }
};

}  // namespace

// The default GPU step (what the trainer runs on a GPU with LARS: bf16, channels-last, the sync-free step
// replayed from a CUDA graph, cuDNN's benchmark mode) against the same step launched eagerly on the same
// weights and views, for bf16 and fp16: after each of several steps the loss, the whole gradient and the
// weights. Both sides run the same kernels in the same order, so they differ only where a kernel is not
// deterministic (atomics in cuDNN's weight gradients, in the loss's reductions), and that drift compounds
// over the steps. Tolerances, stated before any GPU has run this: InfoNCE within 1e-3 relative, the gradient
// within 2e-2 relative (the norm of the difference over the norm), the weights within 1e-3 absolute after 4
// replays. A replay of stale views or a missed update is far outside them (another batch's loss; weights
// apart by lr times the update). For fp16 the first steps may be the scaler's skips: both sides must decide
// alike. Skipped without a GPU (scripts/gpu-check runs it on one).
TEST(TrainStep, DefaultGpuStepFromACudaGraphMatchesTheEagerStep_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  CudaModesGuard modes;
  at::globalContext().setBenchmarkCuDNN(true);  // as the trainer (train/pretrain_setup.cpp)
  for (const auto precision : {core::Precision::kBf16, core::Precision::kFp16}) {
    const std::string name = core::name_of(precision);
    auto a = tiny_model(), b = tiny_model();
    for (auto* m : {&a, &b}) {
      (*m)->to(torch::kCUDA);
      models::to_channels_last(**m);
    }
    auto opt_a = lars(a);
    auto opt_b = lars(b);
    dist::DataParallel gpu(dist::DistEnv{}, dist::BackendChoice::kAuto, 60, torch::kCUDA);
    train::StepOptions so;
    so.precision = precision;
    so.channels_last = true;
    so.sync_free = true;
    so.restore_buffers = true;
    train::TrainStep eager(b, *opt_b, gpu, so);
    so.cuda_graph = true;  // graph_fallback stays false: a failed capture fails the test
    train::TrainStep graphed(a, *opt_a, gpu, so);
    torch::manual_seed(5);
    for (int s = 0; s < train::kGraphWarmupSteps + 5; ++s) {
      const auto views = torch::rand({32, 3, 16, 16}).to(torch::kCUDA);
      const double lr = 0.02 * (s + 1);
      const auto ra = graphed.run(views, lr);
      const auto flags_a = ra.flags.cpu();  // before the next replay overwrites them
      const auto grads_a = gradients(a);
      const auto rb = eager.run(views, lr);
      const auto flags_b = rb.flags.cpu();
      const auto oa = train::read_outcome(flags_a), ob = train::read_outcome(flags_b);
      EXPECT_EQ(oa.applied, ob.applied) << name << " step " << s;
      EXPECT_EQ(oa.scaler_skipped, ob.scaler_skipped) << name << " step " << s;
      EXPECT_TRUE(oa.applied || oa.scaler_skipped) << name << " step " << s;
      const double loss_a = flags_a[0].item<double>(), loss_b = flags_b[0].item<double>();
      EXPECT_NEAR(loss_a, loss_b, 1e-3 * std::abs(loss_b)) << name << " step " << s;
      // A step the scaler skipped has non-finite gradients on both sides (that is why it was skipped;
      // measured on an H200: fp16's first step overflows at the initial scale), whose difference means
      // nothing.
      const auto grads_b = gradients(b);
      double grad_diff = 0;
      if (oa.scaler_skipped && ob.scaler_skipped) {
        EXPECT_FALSE(all_finite(grads_a)) << name << " step " << s;
        EXPECT_FALSE(all_finite(grads_b)) << name << " step " << s;
      } else {
        grad_diff = relative_difference(grads_a, grads_b);
        EXPECT_LT(grad_diff, 2e-2) << name << " step " << s;
      }
      const double weight_diff = max_param_diff(a, b);
      EXPECT_LT(weight_diff, 1e-3) << name << " step " << s;
      std::cout << "  " << name << " step " << s << (s >= train::kGraphWarmupSteps ? " (graph)" : "")
                << ": loss " << loss_a << " vs " << loss_b << ", gradient rel. diff " << grad_diff
                << ", max weight diff " << weight_diff << "\n";
    }
    EXPECT_EQ(graphed.graph_replays(), 5) << name;
  }
}

// The sync-free step, its capture and its replays, and the monitor's per-step work, with CUDA's sync debug
// mode set to error: any blocking copy or stream synchronisation inside throws. This is the GPU's half of
// tests/train/test_train_step_syncs.cpp (which records the dispatched operators on the CPU); it also sees a
// sync inside a kernel's own CUDA implementation. Skipped without a GPU (scripts/gpu-check runs it on one).
TEST(TrainStep, SyncFreeStepAndItsCaptureRunWithSyncDebugModeError_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU";
  CudaModesGuard modes;
  at::globalContext().setBenchmarkCuDNN(true);
  auto m = tiny_model();
  m->to(torch::kCUDA);
  models::to_channels_last(*m);
  auto opt = lars(m);
  dist::DataParallel gpu(dist::DistEnv{}, dist::BackendChoice::kAuto, 60, torch::kCUDA);
  train::StepOptions so;
  so.precision = core::Precision::kBf16;
  so.channels_last = true;
  so.sync_free = true;
  so.restore_buffers = true;
  so.cuda_graph = true;
  train::TrainStep step(m, *opt, gpu, so);
  train::StepMonitor monitor(so.temperature, 16, /*rank_every=*/1);
  torch::manual_seed(8);
  const auto views = torch::rand({32, 3, 16, 16}, torch::TensorOptions().device(torch::kCUDA));
  std::vector<at::Tensor> kept;
  set_cuda_sync_debug_error(true);
  for (int s = 0; s < train::kGraphWarmupSteps + 3; ++s) {
    const auto r = step.run(views, 0.05);
    const at::Tensor applied = r.flags.select(0, 2);
    if (monitor.wants_embeddings()) monitor.observe_embeddings(r.h, r.z, applied);
    monitor.observe_step(r.out, r.grad_norm, applied, 0.0, 0.0);
    kept.push_back(r.flags.clone());
  }
  set_cuda_sync_debug_error(false);
  EXPECT_EQ(step.graph_replays(), 3);
  for (const auto& f : kept) EXPECT_TRUE(train::read_outcome(f).applied);
  EXPECT_FALSE(monitor.flush(0.05).empty());
}
