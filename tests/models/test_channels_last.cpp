// Channels-last models (models/channels_last.h): the same outputs and gradients as the contiguous model,
// every convolution weight re-laid out in place (the optimizer's tensors are the same objects), and
// checkpoints written in the standard layout.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "flatclr/io/state_dict.h"
#include "flatclr/io/torch_load.h"
#include "flatclr/io/torch_save.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/models/resnet.h"

using namespace flatclr;

namespace {

models::ResNet tiny() {
  torch::manual_seed(3);
  models::ResNetOptions o;
  o.arch = models::Arch::kRes10;
  o.width_multiplier = 0.125;
  o.head.out_dim = 16;
  return models::ResNet(o);
}

}  // namespace

TEST(ChannelsLast, SameOutputsAndGradientsAsContiguous) {
  auto a = tiny(), b = tiny();
  auto params_before = b->parameters();
  models::to_channels_last(*b);
  auto params_after = b->parameters();
  for (size_t i = 0; i < params_after.size(); ++i) {
    EXPECT_TRUE(params_after[i].is_same(params_before[i]));  // the same tensors, re-laid out
    if (params_after[i].dim() == 4 && params_after[i].size(2) * params_after[i].size(3) > 1) {
      EXPECT_TRUE(params_after[i].is_contiguous(at::MemoryFormat::ChannelsLast));
      EXPECT_FALSE(params_after[i].is_contiguous());
    }
  }
  torch::manual_seed(5);
  const auto x = torch::randn({6, 3, 32, 32});
  auto [ha, za] = a->forward(x);
  auto [hb, zb] = b->forward(x.contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::allclose(za, zb, 1e-4, 1e-5));
  za.pow(2).sum().backward();
  zb.pow(2).sum().backward();
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pa[i].grad(), pb[i].grad(), 1e-3, 1e-5)) << i;
  }
}

TEST(ChannelsLast, CheckpointTensorsAreWrittenContiguous) {
  auto m = tiny();
  models::to_channels_last(*m);
  const auto sd = io::module_state_dict(*m);
  const auto bytes = io::torch_save(c10::IValue(sd));
  const auto path =
      std::filesystem::temp_directory_path() / ("flatclr_cl_" + std::to_string(::getpid()) + ".pt");
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  // Read back through the archive: every tensor in the standard layout, with the same values.
  const auto back = io::to_state_dict(io::torch_load(path.string()), "saved");
  std::filesystem::remove(path);
  int conv_weights = 0;
  for (const auto& e : back) {
    EXPECT_TRUE(e.value().is_contiguous()) << e.key();
    EXPECT_TRUE(torch::equal(e.value(), sd.at(e.key()).contiguous())) << e.key();
    conv_weights += e.value().dim() == 4;
  }
  EXPECT_GT(conv_weights, 5);
}
