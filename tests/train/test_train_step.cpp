// The trainer's step (train/train_step.h): one update equals the same update written out by hand; a
// non-finite step makes no update, clears the gradients and, when asked, leaves the BatchNorm statistics as
// they were. Also the method table (losses/method.h) the step takes its loss from.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "flatclr/dist/data_parallel.h"
#include "flatclr/losses/flat_nce.h"
#include "flatclr/losses/info_nce.h"
#include "flatclr/losses/method.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/grad_norm.h"
#include "flatclr/optim/make_optimizer.h"
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

double max_param_diff(models::ResNet& a, models::ResNet& b) {
  double d = 0;
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) d = std::max(d, (pa[i] - pb[i]).abs().max().item<double>());
  auto ba = a->buffers(), bb = b->buffers();
  for (size_t i = 0; i < ba.size(); ++i)
    d = std::max(d, (ba[i].to(torch::kDouble) - bb[i].to(torch::kDouble)).abs().max().item<double>());
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
    auto opt_a = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *a, 0.1, 1e-4, 0.9);
    auto opt_b = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *b, 0.1, 1e-4, 0.9);
    dist::DataParallel one(dist::DistEnv{}, flatclr::dist::BackendChoice::kGloo, 60, torch::kCPU);
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
    auto opt = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *m, 0.1, 1e-4, 0.9);
    dist::DataParallel one(dist::DistEnv{}, flatclr::dist::BackendChoice::kGloo, 60, torch::kCPU);
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
