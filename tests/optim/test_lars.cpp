// LARS: PyTorch-generated values (an independent Python LARS, scripts/gen/gen_optim_reference.py),
// closed forms for the exclusions and the trust = 1 guards, a convergence test, save/load.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "flatclr/core/error.h"
#include "flatclr/optim/lars.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/schedule.h"
#include "flatclr/optim/state_key.h"
#include "reference_data.h"

using flatclr::optim::LARS;
using flatclr::optim::LARSOptions;
using flatclr::optim::LARSParamState;
using flatclr::testing::all_close;
using torch::optim::OptimizerParamGroup;

namespace {

torch::Tensor param_like(const torch::Tensor& values) { return values.clone().set_requires_grad(true); }

void set_grad(torch::Tensor& p, const torch::Tensor& g) { p.mutable_grad() = g.clone(); }

void replay_pytorch_case(const nlohmann::json& c, double rtol, double atol) {
  const torch::Dtype dtype = c["dtype"] == "float64" ? torch::kFloat64 : torch::kFloat32;
  const auto lrs = c["lrs"].get<std::vector<double>>();
  std::vector<torch::Tensor> params, adapt, excluded;
  for (const auto& p : c["params"]) {
    params.push_back(param_like(flatclr::testing::tensor_from_json(p["init"], p["shape"], dtype)));
    (p["adapt"].get<bool>() ? adapt : excluded).push_back(params.back());
  }
  const auto defaults = LARSOptions(lrs[0])
                            .momentum(c["momentum"].get<double>())
                            .weight_decay(c["weight_decay"].get<double>())
                            .eeta(c["eeta"].get<double>());
  std::vector<OptimizerParamGroup> groups;
  groups.emplace_back(adapt, std::make_unique<LARSOptions>(LARSOptions(defaults).adapt(true)));
  // As in the generator, the excluded group keeps its weight decay: adapt=false must ignore it.
  groups.emplace_back(excluded, std::make_unique<LARSOptions>(LARSOptions(defaults).adapt(false)));
  LARS opt(std::move(groups), defaults);
  for (size_t s = 0; s < lrs.size(); ++s) {
    flatclr::optim::set_lr(opt, lrs[s]);
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& p = c["params"][i];
      set_grad(params[i], flatclr::testing::tensor_from_json(p["grads"][s], p["shape"], dtype));
    }
    opt.step();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& p = c["params"][i];
      const auto expected = flatclr::testing::tensor_from_json(p["after"][s], p["shape"], torch::kFloat64);
      EXPECT_TRUE(all_close(params[i], expected, rtol, atol))
          << c["dtype"] << " param " << p["name"] << " after step " << s + 1;
    }
  }
}

// The update written out with float64 loops (no tensor ops): one step from a zero momentum buffer.
std::vector<double> first_step_by_hand(const std::vector<double>& p, const std::vector<double>& g, double lr,
                                       double wd, double eeta, bool adapt) {
  std::vector<double> gp(p.size());
  double w2 = 0, g2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    gp[i] = adapt ? g[i] + wd * p[i] : g[i];
    w2 += p[i] * p[i];
    g2 += gp[i] * gp[i];
  }
  const double trust = (adapt && w2 > 0 && g2 > 0) ? eeta * std::sqrt(w2) / std::sqrt(g2) : 1.0;
  std::vector<double> out(p.size());
  for (size_t i = 0; i < p.size(); ++i) out[i] = p[i] - lr * trust * gp[i];
  return out;
}

std::vector<double> to_vec(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

}  // namespace

TEST(LARS, ProducesPyTorchValuesFloat64) {
  replay_pytorch_case(flatclr::testing::optim_reference()["lars"], 1e-12, 1e-14);
}

TEST(LARS, ProducesPyTorchValuesFloat32) {
  replay_pytorch_case(flatclr::testing::optim_reference()["lars_f32"], 2e-6, 2e-7);
}

TEST(LARS, AdaptGroupFirstStepMatchesFormula) {
  torch::manual_seed(11);
  auto p = param_like(torch::randn({5, 7}, torch::kFloat64));
  const auto g = torch::randn({5, 7}, torch::kFloat64);
  const auto expected = first_step_by_hand(to_vec(p), to_vec(g), 0.8, 0.3, 0.05, /*adapt=*/true);
  LARS opt({p}, LARSOptions(0.8).weight_decay(0.3).eeta(0.05));
  set_grad(p, g);
  opt.step();
  EXPECT_TRUE(all_close(p, torch::tensor(expected, torch::kFloat64).reshape({5, 7}), 1e-13, 1e-15));
}

TEST(LARS, ExcludedGroupHasNoWeightDecayAndTrustOne) {
  torch::manual_seed(12);
  const auto p0 = torch::randn({3, 4}, torch::kFloat64);
  const auto g1 = torch::randn({3, 4}, torch::kFloat64);
  const auto g2 = torch::randn({3, 4}, torch::kFloat64);
  auto p = param_like(p0);
  // A large weight decay and a tiny eeta: either one, if applied, would change the result a lot.
  LARS opt({p}, LARSOptions(0.5).momentum(0.9).weight_decay(10.0).eeta(1e-6).adapt(false));
  set_grad(p, g1);
  opt.step();
  EXPECT_TRUE(all_close(p, p0 - 0.5 * g1, 1e-15, 1e-15)) << "step 1: p - lr * g";
  flatclr::optim::set_lr(opt, 0.25);
  set_grad(p, g2);
  opt.step();
  const auto v2 = 0.9 * (0.5 * g1) + 0.25 * g2;
  EXPECT_TRUE(all_close(p, p0 - 0.5 * g1 - v2, 1e-14, 1e-15)) << "step 2: momentum";
}

TEST(LARS, ZeroWeightStillMovesWithTrustOne) {
  // The reference's `>= 0` guard gives trust 0 here and the tensor never moves (its frozen BN biases).
  torch::manual_seed(13);
  auto p = param_like(torch::zeros({4, 2}, torch::kFloat64));
  const auto g = torch::randn({4, 2}, torch::kFloat64);
  LARS opt({p}, LARSOptions(0.7).weight_decay(0.1).eeta(1e-3));
  set_grad(p, g);
  opt.step();
  EXPECT_TRUE(all_close(p, -0.7 * g, 1e-15, 0)) << "||p|| = 0: trust 1, and wd * p = 0";
  EXPECT_GT(p.abs().min().item<double>(), 0);
}

TEST(LARS, ZeroGradientNormGivesTrustOneNotNaN) {
  torch::manual_seed(14);
  auto p = param_like(torch::randn({6}, torch::kFloat64));
  const auto p0 = p.detach().clone();
  const auto g1 = torch::randn({6}, torch::kFloat64);
  LARS opt({p}, LARSOptions(0.3).momentum(0.9).weight_decay(0.0).eeta(0.01));
  set_grad(p, g1);
  opt.step();
  const auto p1 = p.detach().clone();
  const auto v1 = p0 - p1;
  // ||g'|| = 0 (g = 0, wd = 0): without the guard trust = eeta * w / 0 = inf and inf * 0 = NaN.
  set_grad(p, torch::zeros({6}, torch::kFloat64));
  opt.step();
  EXPECT_TRUE(all_close(p, p1 - 0.9 * v1, 1e-15, 1e-16)) << "momentum only";
}

TEST(LARS, SkipsParametersWithoutGradient) {
  auto a = param_like(torch::ones({2, 2}));
  auto b = param_like(torch::ones({2, 2}));
  LARS opt({a, b}, LARSOptions(1.0));
  set_grad(a, torch::ones({2, 2}));
  opt.step();
  EXPECT_TRUE(torch::equal(b, torch::ones({2, 2})));
  EXPECT_FALSE(torch::equal(a, torch::ones({2, 2})));
  EXPECT_EQ(opt.state().size(), 1u);
}

TEST(LARS, StepWithClosureReturnsLossAndUsesItsGradients) {
  auto p = param_like(torch::tensor({1.0, -2.0, 3.0}, torch::kFloat64));
  LARS opt({p}, LARSOptions(0.1).adapt(false).momentum(0));
  auto loss = opt.step([&] {
    opt.zero_grad();
    auto l = (p * p).sum();
    l.backward();
    return l;
  });
  EXPECT_DOUBLE_EQ(loss.item<double>(), 14.0);
  EXPECT_TRUE(all_close(p, torch::tensor({0.8, -1.6, 2.4}, torch::kFloat64), 1e-15, 0)) << "p - 0.1 * 2p";
}

TEST(LARS, ConvergesOnLeastSquares) {
  // y = A w* + b*; w: a [1, 8] weight (adapt group, default eeta 1e-3), b: a bias (excluded group).
  // With eeta 1e-3 a step moves w by ~0.1 % of its norm (x10 with momentum): hence 3000 steps (~1 s).
  torch::manual_seed(15);
  const auto A = torch::randn({64, 8}, torch::kFloat64);
  const auto w_true = torch::randn({1, 8}, torch::kFloat64);
  const auto y = torch::matmul(A, w_true.t()) + 0.7;
  auto w = param_like(0.1 * torch::randn({1, 8}, torch::kFloat64));
  auto b = param_like(torch::zeros({1}, torch::kFloat64));
  std::vector<OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{w},
                      std::make_unique<LARSOptions>(LARSOptions(1.0).weight_decay(0)));
  groups.emplace_back(std::vector<torch::Tensor>{b},
                      std::make_unique<LARSOptions>(LARSOptions(1.0).adapt(false)));
  LARS opt(std::move(groups), LARSOptions(1.0));
  flatclr::optim::LrSchedule schedule{flatclr::optim::ScheduleKind::kCosine, 1.0, 20, 3000, 0.0};
  auto loss_fn = [&] { return (torch::matmul(A, w.t()) + b - y).pow(2).mean(); };
  const double initial = loss_fn().item<double>();
  for (int64_t s = 0; s < schedule.total_steps; ++s) {
    flatclr::optim::set_lr(opt, schedule.lr_at(s));
    opt.zero_grad();
    loss_fn().backward();
    opt.step();
  }
  const double final_loss = loss_fn().item<double>();
  EXPECT_LT(final_loss, 1e-9 * initial) << "initial " << initial << " final " << final_loss;
  EXPECT_TRUE(all_close(w, w_true, 0, 1e-4));
  EXPECT_NEAR(b.item<double>(), 0.7, 1e-4);
}

TEST(LARS, SaveLoadThroughTorchArchiveContinuesExactly) {
  torch::manual_seed(16);
  auto w1 = param_like(torch::randn({3, 5}));
  auto b1 = param_like(torch::randn({3}));
  auto w2 = param_like(w1.detach());
  auto b2 = param_like(b1.detach());
  auto make = [](torch::Tensor w, torch::Tensor b) {
    std::vector<OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{w},
                        std::make_unique<LARSOptions>(LARSOptions(0.5).eeta(0.1)));
    groups.emplace_back(std::vector<torch::Tensor>{b},
                        std::make_unique<LARSOptions>(LARSOptions(0.5).weight_decay(0).adapt(false)));
    return std::make_unique<LARS>(std::move(groups), LARSOptions(0.5));
  };
  auto opt1 = make(w1, b1);
  auto opt2 = make(w2, b2);
  std::vector<torch::Tensor> grads;
  for (int i = 0; i < 5; ++i) grads.push_back(torch::randn({3, 5})), grads.push_back(torch::randn({3}));
  for (int s = 0; s < 3; ++s) {
    set_grad(w1, grads[2 * s]);
    set_grad(b1, grads[2 * s + 1]);
    opt1->step();
  }
  w2.detach().copy_(w1.detach());  // detach(): an in-place copy into a leaf that requires grad
  b2.detach().copy_(b1.detach());
  std::stringstream buffer;
  torch::save(*opt1, buffer);
  torch::load(*opt2, buffer);
  ASSERT_EQ(opt2->state().size(), 2u);
  for (int s = 3; s < 5; ++s) {
    for (auto [w, b, opt] : {std::tuple{w1, b1, opt1.get()}, std::tuple{w2, b2, opt2.get()}}) {
      set_grad(w, grads[2 * s]);
      set_grad(b, grads[2 * s + 1]);
      opt->step();
    }
  }
  EXPECT_TRUE(torch::equal(w1, w2));
  EXPECT_TRUE(torch::equal(b1, b2));
}

TEST(LARS, RejectsBadOptions) {
  auto p = param_like(torch::ones({2}));
  EXPECT_THROW(LARS({p}, LARSOptions(-0.1)), flatclr::UserError);
  EXPECT_THROW(LARS({p}, LARSOptions(0.1).eeta(0)), flatclr::UserError);
  EXPECT_THROW(LARS({p}, LARSOptions(0.1).momentum(1.0)), flatclr::UserError);
  EXPECT_THROW(LARS({p}, LARSOptions(0.1).weight_decay(-1)), flatclr::UserError);
  EXPECT_NO_THROW(LARS({p}, LARSOptions(0.1)));
}

// The device-side step (what the sync-free training step and its CUDA graph use): with apply true it is
// step() exactly, in both kinds of group and in float32 as training runs it, over steps whose lr changes.
TEST(LARS, StepOnDeviceMakesTheSameUpdateAsStep) {
  torch::manual_seed(21);
  std::vector<torch::Tensor> a, b;
  for (const auto& shape : {std::vector<int64_t>{6, 5}, {4}, {3, 3}}) {
    const auto init = torch::randn(shape);
    a.push_back(param_like(init));
    b.push_back(param_like(init));
  }
  const auto groups = [](std::vector<torch::Tensor>& p) {
    std::vector<OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{p[0], p[2]},
                   std::make_unique<LARSOptions>(LARSOptions(0.1).weight_decay(1e-3).eeta(0.02)));
    g.emplace_back(std::vector<torch::Tensor>{p[1]},
                   std::make_unique<LARSOptions>(LARSOptions(0.1).adapt(false)));
    return g;
  };
  LARS host(groups(a)), device(groups(b));
  const auto yes = torch::ones({}, torch::kBool);
  for (const double lr : {0.3, 0.05, 1.7}) {
    for (size_t i = 0; i < a.size(); ++i) {
      const auto g = torch::randn(a[i].sizes());
      set_grad(a[i], g);
      set_grad(b[i], g);
    }
    flatclr::optim::set_lr(host, lr);
    host.step();
    device.step_on_device(torch::tensor(lr, torch::kFloat), yes);
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::equal(a[i], b[i])) << "lr " << lr << " param " << i;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& va =
        static_cast<LARSParamState&>(*host.state().at(flatclr::optim::state_key(a[i]))).momentum_buffer();
    const auto& vb =
        static_cast<LARSParamState&>(*device.state().at(flatclr::optim::state_key(b[i]))).momentum_buffer();
    EXPECT_TRUE(torch::equal(va, vb)) << i;
  }
}

// apply false: no parameter and no momentum buffer moves, even with NaN and Inf gradients (a product with 0
// would have let the NaN through); the next applied step goes on as if the skipped one had not happened.
TEST(LARS, StepOnDeviceWithApplyFalseChangesNothingEvenForNaNGradients) {
  torch::manual_seed(22);
  const auto init = torch::randn({4, 3});
  auto p = param_like(init), q = param_like(init);
  LARS opt({p}, LARSOptions(0.2).weight_decay(1e-2)), ref({q}, LARSOptions(0.2).weight_decay(1e-2));
  const auto yes = torch::ones({}, torch::kBool), no = torch::zeros({}, torch::kBool);
  const auto lr = torch::tensor(0.2f);
  const auto g1 = torch::randn({4, 3}), g2 = torch::randn({4, 3});
  set_grad(p, g1);
  opt.step_on_device(lr, yes);  // momentum is non-zero from here on
  set_grad(q, g1);
  ref.step();
  const auto p1 = p.detach().clone();
  auto& v = static_cast<LARSParamState&>(*opt.state().at(flatclr::optim::state_key(p))).momentum_buffer();
  const auto v1 = v.clone();
  auto bad = torch::randn({4, 3});
  bad[0][0] = std::nan("");
  bad[1][2] = std::numeric_limits<float>::infinity();
  set_grad(p, bad);
  opt.step_on_device(lr, no);
  EXPECT_TRUE(torch::equal(p, p1));
  EXPECT_TRUE(torch::equal(v, v1));
  set_grad(p, g2);
  opt.step_on_device(lr, yes);
  set_grad(q, g2);
  ref.step();
  EXPECT_TRUE(torch::equal(p, q));
}

TEST(LARS, StepOnDeviceRefusesWrongControls) {
  auto p = param_like(torch::ones({2}));
  LARS opt({p}, LARSOptions(0.1));
  set_grad(p, torch::ones({2}));
  EXPECT_THROW(opt.step_on_device(torch::tensor({0.1f, 0.2f}), torch::ones({}, torch::kBool)),
               std::exception);
  EXPECT_THROW(opt.step_on_device(torch::tensor(0.1f), torch::ones({})), std::exception);  // float, not bool
  EXPECT_TRUE(torch::equal(p, torch::ones({2})));
}
