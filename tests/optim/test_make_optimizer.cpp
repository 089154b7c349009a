// make_optimizer / set_lr, and LibTorch's SGD and Adam as we use them against torch.optim values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/optim/lars.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/param_groups.h"
#include "reference_data.h"

using flatclr::optim::LARSOptions;
using flatclr::optim::make_optimizer;
using flatclr::testing::all_close;
namespace nn = torch::nn;

namespace {

nn::Sequential small_net() {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(2, 3, 3).bias(false)), nn::BatchNorm2d(3), nn::Flatten(),
                        nn::Linear(12, 4));
}

// A module holding the generator's tensors as its parameters, in the generator's order.
struct HolderImpl : nn::Module {
  explicit HolderImpl(const nlohmann::json& c) {
    for (const auto& p : c["params"]) {
      register_parameter(p["name"].get<std::string>(),
                         flatclr::testing::tensor_from_json(p["init"], p["shape"], torch::kFloat64));
    }
  }
};

void replay_torch_optimizer(const std::string& name, double rtol, double atol) {
  const auto& c = flatclr::testing::optim_reference()[name];
  HolderImpl holder(c);
  const auto lrs = c["lrs"].get<std::vector<double>>();
  auto opt = make_optimizer(flatclr::core::parse_choice<flatclr::optim::OptimizerKind>(name).value(), holder,
                            lrs[0], c["weight_decay"].get<double>(), c.value("momentum", 0.0));
  auto params = holder.parameters();
  for (size_t s = 0; s < lrs.size(); ++s) {
    flatclr::optim::set_lr(*opt, lrs[s]);
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& p = c["params"][i];
      params[i].mutable_grad() =
          flatclr::testing::tensor_from_json(p["grads"][s], p["shape"], torch::kFloat64);
    }
    opt->step();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& p = c["params"][i];
      const auto expected = flatclr::testing::tensor_from_json(p["after"][s], p["shape"], torch::kFloat64);
      EXPECT_TRUE(all_close(params[i], expected, rtol, atol))
          << name << " " << p["name"] << " step " << s + 1;
    }
  }
}

}  // namespace

TEST(MakeOptimizer, SgdProducesPyTorchValues) { replay_torch_optimizer("sgd", 1e-12, 1e-14); }

TEST(MakeOptimizer, AdamProducesPyTorchValues) { replay_torch_optimizer("adam", 1e-12, 1e-14); }

TEST(MakeOptimizer, LarsHasRegularAndExcludedGroups) {
  auto net = small_net();
  auto opt = make_optimizer(flatclr::optim::OptimizerKind::kLars, *net, 0.6, 1e-6, 0.85);
  ASSERT_NE(dynamic_cast<flatclr::optim::LARS*>(opt.get()), nullptr);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  const auto split = flatclr::optim::split_param_groups(*net);
  const auto& regular = opt->param_groups()[0];
  const auto& excluded = opt->param_groups()[1];
  ASSERT_EQ(regular.params().size(), split.regular.size());
  ASSERT_EQ(excluded.params().size(), split.excluded.size());
  for (size_t i = 0; i < split.regular.size(); ++i)
    EXPECT_TRUE(regular.params()[i].is_same(split.regular[i]));
  for (size_t i = 0; i < split.excluded.size(); ++i)
    EXPECT_TRUE(excluded.params()[i].is_same(split.excluded[i]));
  const auto& ro = static_cast<const LARSOptions&>(regular.options());
  const auto& eo = static_cast<const LARSOptions&>(excluded.options());
  EXPECT_TRUE(ro.adapt());
  EXPECT_EQ(ro.weight_decay(), 1e-6);
  EXPECT_FALSE(eo.adapt());
  EXPECT_EQ(eo.weight_decay(), 0.0);
  for (const auto* o : {&ro, &eo}) {
    EXPECT_EQ(o->lr(), 0.6);
    EXPECT_EQ(o->momentum(), 0.85);
    EXPECT_EQ(o->eeta(), flatclr::optim::kLarsEeta);
  }
}

TEST(MakeOptimizer, SgdAndAdamTakeAllParametersInOneGroup) {
  auto net = small_net();
  const size_t n = net->parameters().size();
  auto sgd = make_optimizer(flatclr::optim::OptimizerKind::kSgd, *net, 0.1, 1e-4, 0.9);
  ASSERT_NE(dynamic_cast<torch::optim::SGD*>(sgd.get()), nullptr);
  ASSERT_EQ(sgd->param_groups().size(), 1u);
  EXPECT_EQ(sgd->param_groups()[0].params().size(), n);
  const auto& so = static_cast<const torch::optim::SGDOptions&>(sgd->param_groups()[0].options());
  EXPECT_EQ(so.lr(), 0.1);
  EXPECT_EQ(so.momentum(), 0.9);
  EXPECT_EQ(so.weight_decay(), 1e-4);
  EXPECT_FALSE(so.nesterov());
  auto adam = make_optimizer(flatclr::optim::OptimizerKind::kAdam, *net, 1e-3, 1e-6, 0.9);
  ASSERT_NE(dynamic_cast<torch::optim::Adam*>(adam.get()), nullptr);
  ASSERT_EQ(adam->param_groups().size(), 1u);
  EXPECT_EQ(adam->param_groups()[0].params().size(), n);
  const auto& ao = static_cast<const torch::optim::AdamOptions&>(adam->param_groups()[0].options());
  EXPECT_EQ(ao.lr(), 1e-3);
  EXPECT_EQ(ao.weight_decay(), 1e-6);
}

TEST(MakeOptimizer, SetLrReachesEveryGroup) {
  auto net = small_net();
  for (const char* name : {"lars", "sgd", "adam"}) {
    auto opt = make_optimizer(flatclr::core::parse_choice<flatclr::optim::OptimizerKind>(name).value(), *net,
                              0.6, 1e-6, 0.9);
    flatclr::optim::set_lr(*opt, 0.125);
    for (const auto& g : opt->param_groups()) EXPECT_EQ(g.options().get_lr(), 0.125) << name;
    EXPECT_EQ(flatclr::optim::get_lr(*opt), 0.125) << name;
  }
}

TEST(MakeOptimizer, NamesAreTypedChoicesAndBadNumbersAreRefused) {
  auto net = small_net();
  using flatclr::optim::OptimizerKind;
  EXPECT_EQ(flatclr::core::parse_choice<OptimizerKind>("lars"), OptimizerKind::kLars);
  EXPECT_FALSE(flatclr::core::parse_choice<OptimizerKind>("rmsprop").has_value());
  EXPECT_EQ(flatclr::core::choice_list<OptimizerKind>(), "lars, sgd, adam");
  EXPECT_EQ(flatclr::core::name_of(OptimizerKind::kAdam), "adam");
  EXPECT_THROW(make_optimizer(flatclr::optim::OptimizerKind::kSgd, *net, -1, 0, 0.9), flatclr::UserError);
  EXPECT_THROW(make_optimizer(flatclr::optim::OptimizerKind::kLars, *net, 0.1, -1e-6, 0.9),
               flatclr::UserError);
}
