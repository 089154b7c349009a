// Checkpoints: round trip, atomicity, clear errors, and Python's torch.load / torchvision reading them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/optim/optimizer_state.h"

using namespace flatclr;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("flatclr_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

models::ResNet small_model(bool imagenet) {
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.imagenet_stem = imagenet;
  return models::ResNet(o);
}

io::Checkpoint make_checkpoint(models::ResNet& m) {
  io::Checkpoint c;
  c.epoch = 3;
  c.batch_size = 32;
  c.global_step = 42;
  c.model = "res18";
  c.model_state_dict = io::module_state_dict(*m);
  c10::impl::GenericDict sched(c10::StringType::get(), c10::AnyType::get());
  sched.insert("step", int64_t{42});
  c.scheduler = sched;
  c.optimizer = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.config_json = R"({"lr": 0.5})";
  return c;
}

}  // namespace

TEST(Checkpoint, RoundTripRestoresEveryTensorExactly) {
  auto dir = temp_dir("ckpt_rt");
  torch::manual_seed(3);
  auto m = small_model(false);
  m->forward(torch::rand({4, 3, 8, 8}));  // move BN running stats away from their init
  auto path = (dir / io::checkpoint_file_name(3)).string();
  EXPECT_EQ(io::checkpoint_file_name(3), "checkpoint_0003.pth.tar");
  io::save_checkpoint(path, make_checkpoint(m));
  auto c = io::load_checkpoint(path);
  EXPECT_EQ(c.epoch, 3);
  EXPECT_EQ(c.batch_size, 32);
  EXPECT_EQ(c.global_step, 42);
  EXPECT_EQ(c.model, "res18");
  EXPECT_EQ(c.config_json, R"({"lr": 0.5})");
  torch::manual_seed(4);
  auto m2 = small_model(false);
  io::load_module_state_dict(*m2, c.model_state_dict, /*strict=*/true, path);
  auto a = io::module_state_dict(*m), b = io::module_state_dict(*m2);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& e : a) EXPECT_TRUE(torch::equal(e.value(), b.at(e.key()))) << e.key();
  // No temporary file left beside it.
  int files = 0;
  for (auto& f : fs::directory_iterator(dir)) files += f.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(Checkpoint, StateDictOrderIsPyTorchOrder) {
  auto m = small_model(false);
  auto sd = io::module_state_dict(*m);
  std::vector<std::string> keys;
  for (const auto& e : sd) keys.push_back(e.key());
  ASSERT_GE(keys.size(), 8u);
  EXPECT_EQ(keys[0], "normalize.mean");
  EXPECT_EQ(keys[2], "conv1.weight");
  EXPECT_EQ(keys[3], "bn1.weight");
  EXPECT_EQ(keys[5], "bn1.running_mean");
  EXPECT_EQ(keys[7], "bn1.num_batches_tracked");
  EXPECT_EQ(keys.back(), "fc.linear_layers.net.2.bias");
}

TEST(Checkpoint, MissingTruncatedAndForeignFilesAreClearErrors) {
  auto dir = temp_dir("ckpt_bad");
  auto missing = (dir / "checkpoint_0009.pth.tar").string();
  try {
    io::load_checkpoint(missing);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint_0009.pth.tar"), std::string::npos) << e.what();
  }
  auto m = small_model(false);
  auto good = (dir / "good.pth.tar").string();
  io::save_checkpoint(good, make_checkpoint(m));
  // Truncated copy.
  auto bytes = std::vector<char>(fs::file_size(good));
  std::ifstream(good, std::ios::binary).read(bytes.data(), bytes.size());
  auto truncated = (dir / "truncated.pth.tar").string();
  std::ofstream(truncated, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  EXPECT_THROW(io::load_checkpoint(truncated), UserError);
  // Not a zip at all.
  auto text = (dir / "text.pth.tar").string();
  std::ofstream(text) << "hello";
  try {
    io::load_checkpoint(text);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("zip"), std::string::npos) << e.what();
  }
  // The paper's checkpoint (saved by PyTorch 2.11): evaluable, but resuming it is refused with the reason.
  const std::string paper = flatclr::testing::source_path("tests/io/data/paper_checkpoint_torch2.pth.tar");
  try {
    io::load_checkpoint(paper);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(paper), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not resumed"), std::string::npos) << e.what();
  }
  // A state dict for another model: shape mismatch names the key.
  auto c = io::load_checkpoint(good);
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.width_multiplier = 0.5;
  models::ResNet other(o);
  try {
    io::load_module_state_dict(*other, c.model_state_dict, true, good);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Checkpoint, ModulePrefixIsStripped) {
  auto m = small_model(false);
  auto sd = io::module_state_dict(*m);
  io::StateDict prefixed;
  for (const auto& e : sd) prefixed.insert("module." + e.key(), e.value() + 0);
  auto m2 = small_model(false);
  auto report = io::load_module_state_dict(*m2, prefixed, true, "prefixed");
  EXPECT_TRUE(report.missing.empty());
}

namespace {

// Saves a checkpoint of `arch` (with a LARS state after one step) and has PyTorch 2.11 read it with
// torch.load(weights_only=True) and load the backbone into torchvision's model of that name.
void check_python_reads_checkpoint(const std::string& arch, const std::string& torchvision_name) {
  auto dir = temp_dir("ckpt_py_" + arch);
  torch::manual_seed(5);
  models::ResNetOptions o;
  o.arch = flatclr::core::parse_choice<flatclr::models::Arch>(arch).value();
  o.imagenet_stem = true;
  models::ResNet m(o);
  auto opt = optim::make_optimizer(flatclr::optim::OptimizerKind::kLars, *m, 0.1, 1e-6, 0.9);
  m->forward(torch::rand({2, 3, 32, 32})).first.pow(2).mean().backward();
  opt->step();
  io::Checkpoint c = make_checkpoint(m);
  c.model = arch;
  c.optimizer = optim::optimizer_state_dict(*opt);
  auto path = (dir / "checkpoint_0003.pth.tar").string();
  io::save_checkpoint(path, c);
  const std::string script = flatclr::testing::source_path("tests/io/read_checkpoint.py");
  const std::string out = (dir / "py.txt").string();
  const int rc = std::system((flatclr::testing::python() + " " + script + " " + path + " " +
                              torchvision_name + " > " + out + " 2>&1")
                                 .c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(rc, 0) << text;
  const double ours = m->conv1->weight.sum().item<double>();
  const double theirs = std::stod(text.substr(text.find("conv1_sum=") + 10));
  EXPECT_NEAR(ours, theirs, 1e-4 * std::max(1.0, std::abs(ours))) << text;
  double momentum = 0;
  const c10::IValue saved = c.optimizer;
  for (const auto& e : saved.toGenericDict().at("state").toGenericDict())
    momentum += e.value().toGenericDict().at("momentum_buffer").toTensor().sum().item<double>();
  ASSERT_NE(momentum, 0.0);
  const double py_momentum = std::stod(text.substr(text.find("momentum_sum=") + 13));
  EXPECT_NEAR(momentum, py_momentum, 1e-4 * std::max(1.0, std::abs(momentum))) << text;
  EXPECT_NE(text.find("torchvision_ok"), std::string::npos) << text;
  fs::remove_all(dir);
}

}  // namespace

TEST(Checkpoint, PyTorchLoadsItWeightsOnlyAndTorchvisionResnet18TakesTheBackbone) {
  check_python_reads_checkpoint("res18", "resnet18");
}

TEST(Checkpoint, PyTorchLoadsItWeightsOnlyAndTorchvisionResnet50TakesTheBackbone) {
  check_python_reads_checkpoint("res50", "resnet50");
}
