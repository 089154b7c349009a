// Optimizer state <-> PyTorch-shaped state_dict IValue: structure, exact resume through
// torch::pickle_save / pickle_load, and clear errors on a mismatch.
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/optim/lars.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/optimizer_state.h"
#include "flatclr/optim/state_key.h"

using flatclr::optim::load_optimizer_state;
using flatclr::optim::make_optimizer;
using flatclr::optim::optimizer_state_dict;
namespace nn = torch::nn;

namespace {

nn::Sequential make_net(int64_t hidden = 8) {
  return nn::Sequential(nn::Linear(6, hidden), nn::BatchNorm1d(hidden), nn::ReLU(), nn::Linear(hidden, 3));
}

void copy_state(nn::Module& from, nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto dst = to.named_parameters();
  for (const auto& p : from.named_parameters()) dst[p.key()].copy_(p.value());
  auto dst_buffers = to.named_buffers();
  for (const auto& b : from.named_buffers()) dst_buffers[b.key()].copy_(b.value());
}

void train_step(nn::Sequential& net, torch::optim::Optimizer& opt, int64_t step) {
  // Inputs are a pure function of the step, so two nets see the same batches.
  const auto x = torch::sin(torch::arange(16 * 6, torch::kFloat32).reshape({16, 6}) * 0.37 + step);
  const auto y = torch::cos(torch::arange(16 * 3, torch::kFloat32).reshape({16, 3}) * 0.11 - step);
  opt.zero_grad();
  torch::mse_loss(net->forward(x), y).backward();
  opt.step();
}

c10::IValue through_pickle(const c10::IValue& v) {
  const std::vector<char> bytes = torch::pickle_save(v);
  return torch::pickle_load(bytes);
}

std::unique_ptr<torch::optim::Optimizer> make_named(const std::string& name, nn::Sequential& net) {
  if (name == "adam_amsgrad") {
    return std::make_unique<torch::optim::Adam>(
        net->parameters(), torch::optim::AdamOptions(0.01).weight_decay(1e-4).amsgrad(true));
  }
  return make_optimizer(flatclr::core::parse_choice<flatclr::optim::OptimizerKind>(name).value(), *net,
                        name == "adam" ? 0.01 : 0.3, 1e-4, 0.9);
}

std::string load_error(torch::optim::Optimizer& opt, const c10::IValue& v) {
  try {
    load_optimizer_state(opt, v);
  } catch (const flatclr::UserError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(OptimizerState, ResumeThroughPickleIsBitExact) {
  for (const std::string name : {"lars", "sgd", "adam", "adam_amsgrad"}) {
    torch::manual_seed(21);
    auto net_a = make_net();
    auto opt_a = make_named(name, net_a);
    for (int64_t s = 0; s < 3; ++s) train_step(net_a, *opt_a, s);
    const c10::IValue saved = through_pickle(optimizer_state_dict(*opt_a));

    torch::manual_seed(99);  // different initial values: everything must come from the copy and the state
    auto net_b = make_net();
    copy_state(*net_a, *net_b);
    auto opt_b = make_named(name, net_b);
    flatclr::optim::set_lr(*opt_b, 123.0);  // the saved lr must come back too
    load_optimizer_state(*opt_b, saved);
    EXPECT_EQ(flatclr::optim::get_lr(*opt_b), flatclr::optim::get_lr(*opt_a)) << name;
    EXPECT_EQ(opt_b->state().size(), opt_a->state().size()) << name;

    for (int64_t s = 3; s < 5; ++s) {
      train_step(net_a, *opt_a, s);
      train_step(net_b, *opt_b, s);
    }
    auto params_b = net_b->named_parameters();
    for (const auto& p : net_a->named_parameters()) {
      EXPECT_TRUE(torch::equal(p.value(), params_b[p.key()]))
          << name << " " << p.key() << " max diff "
          << (p.value() - params_b[p.key()]).abs().max().item<double>();
    }
  }
}

TEST(OptimizerState, LarsDictLooksLikePyTorchs) {
  torch::manual_seed(22);
  auto net = make_net();
  auto opt = make_optimizer(flatclr::optim::OptimizerKind::kLars, *net, 0.3, 1e-6, 0.9);
  train_step(net, *opt, 0);
  const auto v = through_pickle(optimizer_state_dict(*opt));
  ASSERT_TRUE(v.isGenericDict());
  const auto top = v.toGenericDict();
  ASSERT_TRUE(top.contains("state") && top.contains("param_groups"));
  const auto groups = top.at("param_groups").toListRef();
  ASSERT_EQ(groups.size(), 2u);
  // Regular weights (the two Linear weights) are 0, 1; the excluded (biases, BN) follow: 2..5.
  const auto g0 = groups[0].toGenericDict();
  const auto g1 = groups[1].toGenericDict();
  EXPECT_EQ(g0.at("params").toIntVector(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(g1.at("params").toIntVector(), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(g0.at("lr").toDouble(), 0.3);
  EXPECT_EQ(g0.at("weight_decay").toDouble(), 1e-6);
  EXPECT_EQ(g0.at("eeta").toDouble(), 1e-3);
  EXPECT_EQ(g0.at("momentum").toDouble(), 0.9);
  EXPECT_TRUE(g0.at("adapt").toBool());
  EXPECT_FALSE(g1.at("adapt").toBool());
  EXPECT_EQ(g1.at("weight_decay").toDouble(), 0.0);

  const auto state = top.at("state").toGenericDict();
  ASSERT_EQ(state.size(), 6u);
  const auto& live = opt->param_groups();
  int64_t index = 0;
  for (const auto& group : live) {
    for (const auto& p : group.params()) {
      const auto entry = state.at(index++).toGenericDict();
      ASSERT_EQ(entry.size(), 1u);
      const auto buf = entry.at("momentum_buffer").toTensor();
      const auto& live_state =
          static_cast<const flatclr::optim::LARSParamState&>(*opt->state().at(flatclr::optim::state_key(p)));
      EXPECT_TRUE(torch::equal(buf, live_state.momentum_buffer()));
      EXPECT_EQ(buf.sizes(), p.sizes());
    }
  }
}

TEST(OptimizerState, AdamDictHasStepTensorAndMoments) {
  torch::manual_seed(23);
  auto net = make_net();
  auto opt = make_optimizer(flatclr::optim::OptimizerKind::kAdam, *net, 0.01, 0, 0.9);
  for (int64_t s = 0; s < 3; ++s) train_step(net, *opt, s);
  const auto top = optimizer_state_dict(*opt).toGenericDict();
  const auto g = top.at("param_groups").toListRef()[0].toGenericDict();
  const auto betas = g.at("betas").toTupleRef().elements();
  ASSERT_EQ(betas.size(), 2u);
  EXPECT_EQ(betas[0].toDouble(), 0.9);
  EXPECT_EQ(betas[1].toDouble(), 0.999);
  EXPECT_EQ(g.at("eps").toDouble(), 1e-8);
  EXPECT_FALSE(g.at("amsgrad").toBool());
  const auto entry = top.at("state").toGenericDict().at(0).toGenericDict();
  EXPECT_EQ(entry.at("step").toTensor().item<double>(), 3.0);
  EXPECT_EQ(entry.at("step").toTensor().scalar_type(), torch::kFloat32);
  EXPECT_TRUE(entry.contains("exp_avg") && entry.contains("exp_avg_sq"));
  EXPECT_FALSE(entry.contains("max_exp_avg_sq"));
}

TEST(OptimizerState, OnlyParametersWithStateAppear) {
  auto net = make_net();
  auto opt = make_optimizer(flatclr::optim::OptimizerKind::kSgd, *net, 0.1, 0, 0.9);
  EXPECT_EQ(optimizer_state_dict(*opt).toGenericDict().at("state").toGenericDict().size(), 0u);
  // A fresh optimizer loads an empty state (a checkpoint taken before the first step).
  auto other = make_optimizer(flatclr::optim::OptimizerKind::kSgd, *net, 0.1, 0, 0.9);
  load_optimizer_state(*other, optimizer_state_dict(*opt));
  EXPECT_TRUE(other->state().empty());
}

TEST(OptimizerState, MismatchesFailClearlyAndChangeNothing) {
  torch::manual_seed(24);
  auto net = make_net();
  auto lars = make_optimizer(flatclr::optim::OptimizerKind::kLars, *net, 0.3, 1e-6, 0.9);
  auto sgd = make_optimizer(flatclr::optim::OptimizerKind::kSgd, *net, 0.3, 1e-6, 0.9);
  auto adam = make_optimizer(flatclr::optim::OptimizerKind::kAdam, *net, 0.01, 0, 0.9);
  train_step(net, *lars, 0);
  train_step(net, *sgd, 0);
  const auto lars_dict = optimizer_state_dict(*lars);
  const auto sgd_dict = optimizer_state_dict(*sgd);

  EXPECT_NE(load_error(*sgd, lars_dict).find("2 param groups"), std::string::npos)
      << load_error(*sgd, lars_dict);
  EXPECT_NE(load_error(*adam, sgd_dict).find("'betas'"), std::string::npos) << load_error(*adam, sgd_dict);
  EXPECT_NE(load_error(*sgd, c10::IValue(3.0)).find("expected a dict"), std::string::npos);

  auto wider = make_net(/*hidden=*/9);
  auto wider_lars = make_optimizer(flatclr::optim::OptimizerKind::kLars, *wider, 0.3, 1e-6, 0.9);
  const std::string shape_error = load_error(*wider_lars, lars_dict);
  EXPECT_NE(shape_error.find("shape [8, 6]"), std::string::npos) << shape_error;
  EXPECT_NE(shape_error.find("[9, 6]"), std::string::npos) << shape_error;

  auto deeper = nn::Sequential(nn::Linear(6, 8), nn::BatchNorm1d(8), nn::Linear(8, 8), nn::Linear(8, 3));
  auto deeper_lars = make_optimizer(flatclr::optim::OptimizerKind::kLars, *deeper, 0.3, 1e-6, 0.9);
  const std::string count_error = load_error(*deeper_lars, lars_dict);
  EXPECT_NE(count_error.find("has 2 parameters, the optimizer's has 3"), std::string::npos) << count_error;

  // A failed load leaves the optimizer as it was.
  train_step(wider, *wider_lars, 0);
  const auto before = optimizer_state_dict(*wider_lars);
  flatclr::optim::set_lr(*wider_lars, 0.7);
  EXPECT_NE(load_error(*wider_lars, lars_dict), "no error");
  EXPECT_EQ(flatclr::optim::get_lr(*wider_lars), 0.7);
  const auto after = optimizer_state_dict(*wider_lars).toGenericDict().at("state").toGenericDict();
  const auto before_state = before.toGenericDict().at("state").toGenericDict();
  ASSERT_EQ(after.size(), before_state.size());
  for (const auto& e : before_state) {
    EXPECT_TRUE(torch::equal(e.value().toGenericDict().at("momentum_buffer").toTensor(),
                             after.at(e.key()).toGenericDict().at("momentum_buffer").toTensor()));
  }
}

TEST(OptimizerState, OptionsOutsideTheirRangeAreRefusedNamingKeyAndValue) {
  // A checkpoint is untrusted: what make_optimizer refuses from the flags (and PyTorch's optimizers from
  // their arguments) is refused from a file too, instead of resuming with a momentum of 2.
  torch::manual_seed(25);
  auto net = make_net();
  struct Case {
    std::string optimizer, key;
    c10::IValue value;
    std::string must_mention;
  };
  const double nan = std::nan("");
  for (const auto& c :
       std::vector<Case>{{"lars", "momentum", 1.0, "'momentum' is 1, expected a number in [0, 1)"},
                         {"lars", "weight_decay", -1e-4, "'weight_decay' is -0.0001"},
                         {"lars", "eeta", nan, "'eeta' is nan"},
                         {"lars", "lr", -0.1, "'lr' is -0.1"},
                         {"sgd", "momentum", nan, "'momentum' is nan"},
                         {"sgd", "dampening", 1.5, "'dampening' is 1.5, expected a number in [0, 1]"},
                         {"adam", "eps", -1e-8, "'eps' is -1e-08"},
                         {"adam", "betas", c10::ivalue::Tuple::create(0.9, 1.0),
                          "'betas' holds 1, expected numbers in [0, 1)"}}) {
    auto opt = make_named(c.optimizer, net);
    train_step(net, *opt, 0);
    auto dict = optimizer_state_dict(*opt).toGenericDict();
    dict.at("param_groups").toList().get(0).toGenericDict().insert_or_assign(c.key, c.value);
    const std::string error = load_error(*opt, dict);
    EXPECT_NE(error.find(c.must_mention), std::string::npos) << c.optimizer << " " << c.key << ": " << error;
  }
}

TEST(OptimizerState, AdamStepMustBeARealWholeNumberThatFits) {
  // 1e300 would overflow the integer step (undefined behaviour); a complex tensor has no real value.
  torch::manual_seed(26);
  auto net = make_net();
  auto adam = make_named("adam", net);
  train_step(net, *adam, 0);
  for (const auto& step : std::vector<c10::IValue>{
           1e300, torch::scalar_tensor(c10::complex<double>(1, 2), torch::kComplexDouble), -1.0, 2.5}) {
    auto dict = optimizer_state_dict(*adam).toGenericDict();
    dict.at("state").toGenericDict().at(0).toGenericDict().insert_or_assign("step", step);
    EXPECT_NE(load_error(*adam, dict).find("'step'"), std::string::npos) << load_error(*adam, dict);
  }
}
