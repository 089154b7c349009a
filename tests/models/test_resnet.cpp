// ResNet layout, names, shapes and parameter counts against torchvision.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/models/resnet.h"

using namespace flatclr::models;

namespace {

ResNet make(const std::string& arch, bool imagenet, double width = 1.0,
            const std::string& head = "nonlinear") {
  ResNetOptions o;
  o.arch = flatclr::core::parse_choice<flatclr::models::Arch>(arch).value();
  o.imagenet_stem = imagenet;
  o.width_multiplier = width;
  o.head.mode = flatclr::core::parse_choice<flatclr::models::HeadMode>(head).value();
  return ResNet(o);
}

int64_t count_params(torch::nn::Module& m, const std::string& skip_prefix = "") {
  int64_t n = 0;
  for (auto& p : m.named_parameters()) {
    if (!skip_prefix.empty() && p.key().rfind(skip_prefix, 0) == 0) continue;
    n += p.value().numel();
  }
  return n;
}

}  // namespace

TEST(ResNet, BackboneKeysAndShapesMatchTorchvision) {
  std::ifstream f(flatclr::testing::source_path("tests/models/data/torchvision_keys.json"));
  ASSERT_TRUE(f.good());
  auto j = nlohmann::json::parse(f);
  for (auto [ours, theirs] : {std::pair{"res18", "resnet18"}, {"res34", "resnet34"}, {"res50", "resnet50"}}) {
    auto model = make(ours, /*imagenet=*/true);
    std::vector<std::pair<std::string, std::vector<int64_t>>> mine;
    for (auto& item : model->named_parameters(true)) {
      if (item.key().rfind("fc.", 0) == 0) continue;
      mine.emplace_back(item.key(), item.value().sizes().vec());
    }
    for (auto& item : model->named_buffers(true)) {
      if (item.key().rfind("fc.", 0) == 0 || item.key().rfind("normalize.", 0) == 0) continue;
      mine.emplace_back(item.key(), item.value().sizes().vec());
    }
    std::map<std::string, std::vector<int64_t>> expected;
    for (auto& kv : j[theirs]) expected[kv[0].get<std::string>()] = kv[1].get<std::vector<int64_t>>();
    EXPECT_EQ(mine.size(), expected.size()) << ours;
    for (auto& [k, shape] : mine) {
      auto it = expected.find(k);
      ASSERT_NE(it, expected.end()) << ours << ": key " << k << " is not in torchvision's " << theirs;
      EXPECT_EQ(shape, it->second) << k;
    }
  }
}

TEST(ResNet, ParameterCountsAndHeadKeys) {
  auto m = make("res18", false);
  // CIFAR ResNet-18 with a 10-way fc has 11,173,962 parameters (libtorch-notes.md): minus the fc, 11,168,832.
  EXPECT_EQ(count_params(*m, "fc."), 11173962 - (512 * 10 + 10));
  auto params = m->named_parameters();
  EXPECT_TRUE(params.contains("fc.linear_layers.net.0.weight"));
  EXPECT_TRUE(params.contains("fc.linear_layers.net.2.bias"));
  EXPECT_EQ(params["fc.linear_layers.net.2.weight"].sizes(), (std::vector<int64_t>{128, 512}));
  EXPECT_TRUE(m->named_buffers().contains("normalize.mean"));
  EXPECT_EQ(m->feature_dim(), 512);
  EXPECT_EQ(make("res50", false)->feature_dim(), 2048);
  EXPECT_EQ(make("res10", false)->feature_dim(), 512);
  auto lin = make("res10", false, 1.0, "linear");
  EXPECT_TRUE(lin->named_buffers().contains("fc.linear_layers.net.1.running_mean"));
}

TEST(ResNet, ForwardShapesCifarAndImagenetStem) {
  torch::manual_seed(0);
  auto m = make("res18", false, 0.125);
  auto [h, z] = m->forward(torch::rand({4, 3, 32, 32}));
  EXPECT_EQ(h.sizes(), (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{4, 128}));
  auto mi = make("res50", true, 0.125);
  auto [hi, zi] = mi->forward(torch::rand({2, 3, 64, 64}));
  EXPECT_EQ(hi.sizes(), (std::vector<int64_t>{2, 256}));
  auto none = make("res10", false, 0.125, "none");
  auto [hn, zn] = none->forward(torch::rand({2, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(hn, zn));
}

TEST(ResNet, NormalizationInsideModel) {
  auto m = make("res10", false, 0.125);
  auto x = torch::rand({2, 3, 8, 8});
  auto expected = (x - torch::tensor({0.4914, 0.4822, 0.4465}).view({1, 3, 1, 1})) /
                  torch::tensor({0.2023, 0.1994, 0.2010}).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::allclose(m->normalize(x), expected, 1e-6, 1e-6));
}

TEST(ResNet, InitialisationFollowsTorchvision) {
  torch::manual_seed(1);
  auto m = make("res18", false);
  // kaiming_normal(fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
  auto w = m->layer3[0]->as<BasicBlock>()->conv1->weight;
  const double expected_std = std::sqrt(2.0 / (256 * 9));
  EXPECT_NEAR(w.std().item<double>(), expected_std, 0.02 * expected_std);
  EXPECT_TRUE(torch::equal(m->bn1->weight, torch::ones_like(m->bn1->weight)));
  EXPECT_TRUE(torch::equal(m->bn1->bias, torch::zeros_like(m->bn1->bias)));
}

TEST(ResNet, ArchAndHeadNamesAreTypedChoicesAndABadWidthIsAUserError) {
  using flatclr::core::parse_choice;
  EXPECT_FALSE(parse_choice<Arch>("res20").has_value());
  EXPECT_FALSE(parse_choice<HeadMode>("mlp").has_value());
  EXPECT_EQ(flatclr::core::choice_list<Arch>(), "res10, res18, res34, res50, res101, res152");
  for (const auto& c : choices_of(Arch{})) EXPECT_EQ(parse_choice<Arch>(c.name), c.value) << c.name;
  EXPECT_THROW(make("res18", false, 0.0), flatclr::UserError);
}
