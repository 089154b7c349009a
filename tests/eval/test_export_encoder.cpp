// eval/export_encoder: the exported backbone, loaded by PyTorch into torchvision's resnet18 (CIFAR stem
// swapped in as the metadata says) and resnet50 (ImageNet stem), misses only fc.* and computes the same
// features as flatclr's encoder; the safetensors metadata describes the encoder; bad requests name the field.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"
#include "flatclr/eval/export_encoder.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/io/state_dict.h"
#include "flatclr/io/torch_save.h"

namespace {

namespace fs = std::filesystem;
using namespace flatclr;

struct Fixture {
  fs::path dir;
  models::ResNet model{nullptr};
};

// A run folder holding checkpoint_0003.pth.tar of a freshly initialised encoder whose BatchNorm statistics
// are not the defaults (so that buffers are checked too).
Fixture make_run(const std::string& name, models::Arch arch, bool imagenet_stem) {
  Fixture f;
  f.dir = fs::temp_directory_path() / ("flatclr_export_" + std::to_string(::getpid())) / name;
  fs::remove_all(f.dir);
  fs::create_directories(f.dir);
  torch::manual_seed(11);
  models::ResNetOptions o;
  o.arch = arch;
  o.imagenet_stem = imagenet_stem;
  o.normalize_dataset = imagenet_stem ? "imagenet" : "cifar10";
  f.model = models::ResNet(o);
  {
    torch::NoGradGuard no_grad;
    for (auto& b : f.model->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    }
  }
  io::Checkpoint c;
  c.epoch = 3;
  c.batch_size = 64;
  c.model = core::name_of(arch);
  c.model_state_dict = io::module_state_dict(*f.model);
  c.optimizer = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.scheduler = c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get());
  c.config_json = nlohmann::json{{"dataset_name", o.normalize_dataset}, {"clr", "flatclr"}}.dump();
  io::save_checkpoint((f.dir / io::checkpoint_file_name(3)).string(), c);
  return f;
}

nlohmann::json check_in_python(Fixture& f, const fs::path& exported, const std::string& torchvision_name,
                               const std::string& stem, int64_t size) {
  f.model->eval();
  torch::manual_seed(5);
  const auto x = torch::rand({4, 3, size, size});
  at::Tensor h;
  {
    torch::NoGradGuard no_grad;
    h = f.model->features(x);
  }
  c10::Dict<std::string, at::Tensor> ref;
  ref.insert("x", x);
  ref.insert("h", h);
  ref.insert("mean", f.model->normalize->mean);
  ref.insert("std", f.model->normalize->std);
  const auto ref_path = f.dir / "reference.pt";
  core::write_file_atomic(ref_path.string(), io::torch_save(c10::IValue(ref)));
  const auto out = f.dir / "py.txt";
  const int rc = std::system((flatclr::testing::python() + " " +
                              flatclr::testing::source_path("tests/eval/check_export.py") + " " +
                              exported.string() + " " + torchvision_name + " " + stem + " " +
                              ref_path.string() + " > " + out.string() + " 2>&1")
                                 .c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << text;
  return rc == 0 ? nlohmann::json::parse(text) : nlohmann::json::object();
}

void expect_loads_with_same_features(const nlohmann::json& r) {
  EXPECT_EQ(r["missing"], nlohmann::json::array({"fc.bias", "fc.weight"})) << r.dump();
  EXPECT_EQ(r["unexpected"], nlohmann::json::array()) << r.dump();
  EXPECT_LT(r["max_abs_diff"].get<double>(), 1e-4 * std::max(1.0, r["max_abs_h"].get<double>())) << r.dump();
}

}  // namespace

TEST(ExportEncoder, Resnet18CifarStemLoadsIntoTorchvisionWithTheSameFeatures) {
  auto f = make_run("res18", models::Arch::kRes18, false);
  for (const auto format : {eval::ExportFormat::kPth, eval::ExportFormat::kSafetensors}) {
    eval::ExportConfig c;
    c.checkpoint_dir = f.dir.string();
    c.format = format;
    c.output = (f.dir / (format == eval::ExportFormat::kPth ? "enc.pth" : "enc.safetensors")).string();
    const auto r = eval::export_encoder(c);
    EXPECT_EQ(r.checkpoint, (f.dir / "checkpoint_0003.pth.tar").string());
    EXPECT_EQ(r.tensors, 120);  // torchvision resnet18's 122 state-dict tensors but fc.weight and fc.bias
    const auto py = check_in_python(f, c.output, "resnet18", "cifar", 32);
    expect_loads_with_same_features(py);
    if (format == eval::ExportFormat::kSafetensors) {
      const auto& m = py["metadata"];
      EXPECT_EQ(m["architecture"], "res18");
      EXPECT_EQ(m["torchvision_model"], "resnet18");
      EXPECT_EQ(m["stem"], "cifar");
      EXPECT_EQ(m["width_multiplier"], "1.0");
      EXPECT_EQ(m["feature_dim"], "512");
      EXPECT_EQ(m["method"], "flatclr");
      EXPECT_EQ(m["pretrain_epochs"], "3");
      EXPECT_EQ(m["pretrain_dataset"], "cifar10");
      const auto mean = nlohmann::json::parse(m["normalize_mean"].get<std::string>());
      EXPECT_NEAR(mean[0].get<double>(), 0.4914, 1e-6);
    }
  }
  fs::remove_all(f.dir);
}

TEST(ExportEncoder, Resnet50ImagenetStemLoadsIntoTorchvisionWithTheSameFeatures) {
  auto f = make_run("res50", models::Arch::kRes50, true);
  eval::ExportConfig c;
  c.checkpoint_dir = f.dir.string();
  c.output = (f.dir / "enc.pth").string();
  eval::export_encoder(c);
  expect_loads_with_same_features(check_in_python(f, c.output, "resnet50", "imagenet", 64));
  fs::remove_all(f.dir);
}

TEST(ExportEncoder, BackboneHasNoHeadOrNormalisationAndBadRequestsNameTheField) {
  auto f = make_run("bad", models::Arch::kRes18, false);
  eval::LoadedEncoder enc;
  enc.model = f.model;
  for (const auto& [k, t] : eval::backbone_tensors(enc)) {
    EXPECT_NE(k.rfind("fc.", 0), 0u) << k;
    EXPECT_NE(k.rfind("normalize.", 0), 0u) << k;
  }
  eval::ExportConfig c;
  c.checkpoint_dir = f.dir.string();
  c.output = f.dir.string();  // a folder
  try {
    eval::export_encoder(c);
    FAIL() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("`export.output`"), std::string::npos) << e.what();
  }
  c.output = (f.dir / "x.pth").string();
  c.transfer_from_epoch = 7;
  try {
    eval::export_encoder(c);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("`transfer_from_epoch`=7: no checkpoint_7"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(c.output));
  c.checkpoint_dir = (f.dir / "nothing").string();
  EXPECT_THROW(eval::export_encoder(c), UserError);
  fs::remove_all(f.dir);
}
