// The encoder architecture is recovered from a state dict's shapes, for every arch and head mode.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/eval/encoder_loader.h"
#include "flatclr/io/checkpoint.h"

using namespace flatclr;

TEST(EncoderLoader, InfersEveryArchStemWidthAndHead) {
  struct Case {
    std::string arch;
    bool imagenet;
    double width;
    std::string head;
    int64_t layers, out;
  };
  for (const auto& k : std::vector<Case>{{"res10", false, 0.125, "nonlinear", 2, 128},
                                         {"res18", true, 0.25, "nonlinear", 3, 64},
                                         {"res34", false, 0.125, "linear", 2, 32},
                                         {"res50", false, 0.125, "none", 2, 128},
                                         {"res101", true, 0.125, "nonlinear", 1, 16},
                                         {"res152", false, 0.0625, "nonlinear", 2, 128}}) {
    models::ResNetOptions o;
    o.arch = flatclr::core::parse_choice<flatclr::models::Arch>(k.arch).value();
    o.imagenet_stem = k.imagenet;
    o.width_multiplier = k.width;
    o.head.mode = flatclr::core::parse_choice<flatclr::models::HeadMode>(k.head).value();
    o.head.num_layers = k.layers;
    o.head.out_dim = k.out;
    models::ResNet m(o);
    auto inferred = eval::infer_resnet_options(io::module_state_dict(*m), "test");
    EXPECT_EQ(flatclr::core::name_of(inferred.arch), k.arch);
    EXPECT_EQ(inferred.imagenet_stem, k.imagenet);
    EXPECT_DOUBLE_EQ(inferred.width_multiplier, k.width);
    EXPECT_EQ(flatclr::core::name_of(inferred.head.mode), k.head);
    if (k.head == "nonlinear") EXPECT_EQ(inferred.head.num_layers, k.layers);
    if (k.head != "none") EXPECT_EQ(inferred.head.out_dim, k.out);
    // The inferred options rebuild a model that takes the state strictly.
    models::ResNet rebuilt(inferred);
    EXPECT_NO_THROW(io::load_module_state_dict(*rebuilt, io::module_state_dict(*m), true, "test"));
  }
}

TEST(EncoderLoader, LoadsOurCheckpointWithItsMetadata) {
  auto dir = std::filesystem::temp_directory_path() / ("flatclr_enc_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.width_multiplier = 0.125;
  models::ResNet m(o);
  io::Checkpoint c;
  c.epoch = 4;
  c.batch_size = 8;
  c.global_step = 40;
  c.model = "res18";
  c.model_state_dict = io::module_state_dict(*m);
  c.optimizer = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.scheduler = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.config_json = R"({"dataset_name": "cifar100"})";
  auto path = (dir / "checkpoint_0004.pth.tar").string();
  io::save_checkpoint(path, c);
  auto enc = eval::load_encoder(path);
  EXPECT_EQ(enc.pretrain_epoch, 4);
  EXPECT_EQ(enc.pretrain_dataset, "cifar100");
  EXPECT_TRUE(torch::equal(enc.model->conv1->weight, m->conv1->weight));
  auto random = eval::random_encoder(enc.model->options, 1);
  EXPECT_FALSE(torch::equal(random.model->conv1->weight, m->conv1->weight));
  std::filesystem::remove_all(dir);
}

TEST(EncoderLoader, PaperCheckpointShowsTheEpochsCompleted) {
  // The paper's code stores the run's total (100 here) in `epoch` and names the file after the 0-based epoch
  // it saved at, plus a final checkpoint_<total>.
  auto dir = std::filesystem::temp_directory_path() / ("flatclr_paper_epoch_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto fixture = flatclr::testing::source_path("tests/io/data/paper_checkpoint.pth.tar");
  for (const auto& [name, epochs] :
       std::vector<std::pair<std::string, int64_t>>{{"checkpoint_0004.pth.tar", 5},
                                                    {"checkpoint_0000.pth.tar", 1},
                                                    {"checkpoint_0100.pth.tar", 100},
                                                    {"encoder.pth.tar", 100}}) {
    std::filesystem::copy_file(fixture, dir / name, std::filesystem::copy_options::overwrite_existing);
    EXPECT_EQ(eval::load_encoder((dir / name).string()).pretrain_epoch, epochs) << name;
  }
  std::filesystem::remove_all(dir);
}

TEST(EncoderLoader, NonResNetDictIsAUserError) {
  io::StateDict s;
  s.insert("weight", torch::zeros({3}));
  EXPECT_THROW(eval::infer_resnet_options(s, "x"), UserError);
}
