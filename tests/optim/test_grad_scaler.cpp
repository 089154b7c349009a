// GradScaler against PyTorch's own torch.amp.GradScaler (scripts/gen/gen_grad_scaler_reference.py): the
// same losses with overflowing steps, and the scaled and unscaled gradients, the skip decision, the weights,
// the scale and the growth tracker compared at every step; state_dict round trip and PyTorch's layout.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/optim/grad_scaler.h"

using flatclr::optim::GradScaler;
using flatclr::optim::GradScalerOptions;

namespace {

nlohmann::json reference() {
  std::ifstream f(flatclr::testing::source_path("tests/optim/data/grad_scaler_reference.json"));
  if (!f.good()) throw std::runtime_error("missing tests/optim/data/grad_scaler_reference.json");
  return nlohmann::json::parse(f);
}

// JSON has no Inf/NaN: the generator writes them as the strings "inf", "-inf", "nan".
double number(const nlohmann::json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  return v.get<double>();
}

torch::Tensor tensor(const nlohmann::json& values, const std::vector<int64_t>& shape) {
  std::vector<double> v;
  for (const auto& x : values) v.push_back(number(x));
  return torch::tensor(v, torch::kFloat64).reshape(shape).to(torch::kFloat32);
}

}  // namespace

TEST(GradScaler, MatchesPyTorchStepByStepThroughOverflowsAndGrowth) {
  const auto ref = reference();
  const auto shapes = ref["shapes"].get<std::vector<std::vector<int64_t>>>();
  std::vector<torch::Tensor> w;
  for (size_t i = 0; i < shapes.size(); ++i)
    w.push_back(tensor(ref["init"][i], shapes[i]).set_requires_grad(true));
  GradScalerOptions o;
  o.init_scale = ref["init_scale"];
  o.growth_factor = ref["growth_factor"];
  o.backoff_factor = ref["backoff_factor"];
  o.growth_interval = ref["growth_interval"];
  GradScaler scaler(o, torch::kCPU);
  const double lr = ref["lr"];
  int skipped = 0, grown = 0;
  double last_scale = o.init_scale;
  for (size_t s = 0; s < ref["steps"].size(); ++s) {
    SCOPED_TRACE("step " + std::to_string(s));
    const auto& r = ref["steps"][s];
    for (auto& p : w) p.mutable_grad() = torch::Tensor();
    auto loss = torch::zeros({}, torch::kFloat32);
    for (size_t i = 0; i < w.size(); ++i) loss = loss + (tensor(r["coeffs"][i], shapes[i]) * w[i]).sum();
    scaler.scale(loss).backward();
    for (size_t i = 0; i < w.size(); ++i) {
      // torch.equal treats NaN as unequal: compare with NaNs matched.
      EXPECT_TRUE(
          torch::allclose(w[i].grad(), tensor(r["scaled_grads"][i], shapes[i]), 0, 0, /*equal_nan=*/true));
    }
    const auto found_inf = scaler.unscale(w);
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_TRUE(torch::allclose(w[i].grad(), tensor(r["unscaled_grads"][i], shapes[i]), 0, 0, true))
          << w[i].grad() << "\n"
          << tensor(r["unscaled_grads"][i], shapes[i]);
    }
    const bool inf = found_inf.item<float>() > 0;
    EXPECT_EQ(inf, r["found_inf"].get<bool>());
    EXPECT_EQ(!inf, r["stepped"].get<bool>());
    if (!inf) {
      torch::NoGradGuard no_grad;
      for (auto& p : w) p.add_(p.grad(), -lr);  // torch.optim.SGD: param.add_(grad, alpha=-lr)
    } else {
      ++skipped;
    }
    scaler.update(found_inf);
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_TRUE(torch::equal(w[i].detach(), tensor(r["weights"][i], shapes[i])));
    }
    EXPECT_EQ(scaler.scale_value(), r["scale"].get<double>());
    EXPECT_EQ(scaler.growth_tracker(), r["growth_tracker"].get<int64_t>());
    if (scaler.scale_value() > last_scale) ++grown;
    last_scale = scaler.scale_value();
  }
  EXPECT_EQ(skipped, 3);  // the reference's three overflowing steps were all skipped
  EXPECT_GE(grown, 2);    // and the scale grew back twice
}

TEST(GradScaler, StateDictHasPyTorchsLayoutAndRoundTrips) {
  const auto ref = reference();
  GradScalerOptions o;
  o.init_scale = 8.0;
  o.growth_interval = 1;
  GradScaler a(o, torch::kCPU);
  a.update(torch::zeros({1}));  // growth: 16
  a.update(torch::ones({1}));   // backoff: 8, tracker 0
  a.update(torch::zeros({1}));  // growth: 16
  const auto state = a.state_dict().toGenericDict();
  std::vector<std::string> keys;
  for (const auto& e : state) keys.push_back(e.key().toStringRef());
  std::vector<std::string> expected;
  for (const auto& [k, v] : ref["state_dict"].items()) expected.push_back(k);
  std::sort(keys.begin(), keys.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(state.at("scale").toDouble(), 16.0);

  GradScaler b(GradScalerOptions{}, torch::kCPU);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.scale_value(), 16.0);
  EXPECT_EQ(b.growth_tracker(), 0);
  b.update(torch::zeros({1}));  // growth_interval 1 came with the state
  EXPECT_EQ(b.scale_value(), 32.0);

  c10::impl::GenericDict bad(c10::StringType::get(), c10::AnyType::get());
  bad.insert("scale", std::string("big"));
  EXPECT_THROW(b.load_state_dict(bad), flatclr::UserError);
  EXPECT_THROW(b.load_state_dict(c10::IValue(3)), flatclr::UserError);
  // Factors PyTorch's GradScaler refuses: a backoff of 0 would leave a scale of 0 after one overflow.
  for (const auto& [key, value] : std::vector<std::pair<std::string, double>>{{"backoff_factor", 0.0},
                                                                              {"backoff_factor", 1.0},
                                                                              {"growth_factor", 1.0},
                                                                              {"growth_factor", 0.5}}) {
    auto d = a.state_dict().toGenericDict();
    d.insert_or_assign(key, value);
    try {
      b.load_state_dict(d);
      ADD_FAILURE() << key << " " << value << " was accepted";
    } catch (const flatclr::UserError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(b.scale_value(), 32.0);  // a refused state changes nothing
}
