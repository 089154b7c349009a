// Channels-last models (models/channels_last.h): the same outputs and gradients as the contiguous model,
// every convolution weight re-laid out in place (the optimizer's tensors are the same objects), and
// checkpoints written in the standard layout. The layout decision: the narrow strided 1x1 convolutions oneDNN
// cannot train channels-last are found by name, keep a model contiguous on a CPU with one line that says why,
// and a training step of such a model (ResNet-18 x0.125 at 224 px, the configuration that crashed) runs in a
// child process, so that a crash fails this test and not the suite, with the same gradients as the
// contiguous step.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flatclr/io/state_dict.h"
#include "flatclr/io/torch_load.h"
#include "flatclr/io/torch_save.h"
#include "flatclr/models/channels_last.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/make_optimizer.h"
#include "flatclr/train/train_step.h"

using namespace flatclr;

namespace {

// A ResNet at 1/8 width, initialised from `seed`.
models::ResNet eighth_width(models::Arch arch, uint64_t seed, bool imagenet_stem = false) {
  torch::manual_seed(seed);
  models::ResNetOptions o;
  o.arch = arch;
  o.width_multiplier = 0.125;
  o.imagenet_stem = imagenet_stem;
  if (imagenet_stem) o.normalize_dataset = "imagenet";
  o.head.out_dim = 16;
  return models::ResNet(o);
}

models::ResNet tiny() { return eighth_width(models::Arch::kRes10, 3); }

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

namespace {

// ResNet-18 at 1/8 width with the ImageNet stem: 8 channels into layer2's 1x1 stride-2 shortcut.
models::ResNet narrow_imagenet_model() {
  return eighth_width(models::Arch::kRes18, 21, /*imagenet_stem=*/true);
}

// One pretraining step (train::TrainStep, fp32) of the narrow model on 2 x 4 views of 224 px in the layout
// the trainer chooses for `requested` on the CPU; the parameters' gradients after it.
std::vector<at::Tensor> narrow_step_gradients(core::MemoryFormat requested, bool* channels_last) {
  auto m = narrow_imagenet_model();
  *channels_last = models::use_channels_last(requested, torch::kCPU, *m);
  if (*channels_last) models::to_channels_last(*m);
  m->train();
  auto opt = optim::make_optimizer(optim::OptimizerKind::kLars, *m, 0.1, 1e-6, 0.9);
  dist::DataParallel one(dist::DistEnv{}, dist::BackendChoice::kGloo, 60, torch::kCPU);
  train::StepOptions so;
  so.channels_last = *channels_last;
  train::TrainStep step(m, *opt, one, so);
  torch::manual_seed(22);
  step.run(torch::rand({8, 3, 224, 224}), 0.1);
  std::vector<at::Tensor> grads;
  for (const auto& p : m->parameters()) grads.push_back(p.grad().contiguous());
  return grads;
}

const char* kChildOut = "FLATCLR_LAYOUT_CHILD_OUT";
const char* kChildRequest = "FLATCLR_LAYOUT_CHILD_REQUEST";

}  // namespace

TEST(ChannelsLast, NarrowStridedOneByOneConvolutionsAreFoundByName) {
  const auto narrow = models::nhwc_unsafe_on_cpu(*narrow_imagenet_model());
  // layer2's shortcut takes 8 channels (64 x 0.125) at stride 2; layer3's and layer4's take 16 and 32.
  ASSERT_EQ(narrow.size(), 1u);
  EXPECT_EQ(narrow[0], "layer2.0.downsample.0 (8 input channels, 1x1 stride 2)");
  models::ResNetOptions wider;
  wider.arch = models::Arch::kRes18;
  wider.width_multiplier = 0.25;  // 16 channels: oneDNN's block, which it handles
  wider.imagenet_stem = true;
  EXPECT_TRUE(models::nhwc_unsafe_on_cpu(*models::ResNet(wider)).empty());
  models::ResNetOptions res50;
  res50.arch = models::Arch::kRes50;
  res50.width_multiplier = 0.125;  // its shortcuts take 32, 64 and 128 channels
  EXPECT_TRUE(models::nhwc_unsafe_on_cpu(*models::ResNet(res50)).empty());
}

TEST(ChannelsLast, TheLayoutDecision) {
  const auto narrow = narrow_imagenet_model();
  models::ResNetOptions thin;
  thin.arch = models::Arch::kRes10;
  thin.width_multiplier = 0.0625;  // its 1x1 stride-2 shortcuts take 4, 8 and 16 channels
  const auto thinner = models::ResNet(thin);
  models::ResNetOptions o;
  o.arch = models::Arch::kRes18;
  const auto full = models::ResNet(o);
  const c10::Device cuda(c10::kCUDA, 0);
  std::string note;
  // auto: channels-last, except for a model oneDNN cannot train in it on a CPU; a GPU runs no oneDNN.
  EXPECT_TRUE(models::use_channels_last(core::MemoryFormat::kAuto, torch::kCPU, *full, &note));
  EXPECT_TRUE(models::use_channels_last(core::MemoryFormat::kAuto, cuda, *narrow, &note));
  EXPECT_FALSE(models::use_channels_last(core::MemoryFormat::kContiguous, cuda, *full, &note));
  EXPECT_FALSE(models::use_channels_last(core::MemoryFormat::kContiguous, torch::kCPU, *full, &note));
  EXPECT_EQ(note, "");
  EXPECT_FALSE(models::use_channels_last(core::MemoryFormat::kAuto, torch::kCPU, *narrow, &note));
  EXPECT_NE(note.find("`memory_format`=auto: contiguous, because oneDNN"), std::string::npos) << note;
  note.clear();
  // Asked for on a CPU: granted where it is safe, refused with a reason where it is not.
  EXPECT_TRUE(models::use_channels_last(core::MemoryFormat::kChannelsLast, torch::kCPU, *full, &note));
  EXPECT_EQ(note, "");
  EXPECT_FALSE(models::use_channels_last(core::MemoryFormat::kChannelsLast, torch::kCPU, *narrow, &note));
  EXPECT_NE(note.find("`memory_format`=channels_last: using contiguous instead"), std::string::npos) << note;
  EXPECT_NE(note.find("layer2.0.downsample.0 (8 input channels, 1x1 stride 2)"), std::string::npos) << note;
  note.clear();
  EXPECT_FALSE(models::use_channels_last(core::MemoryFormat::kChannelsLast, torch::kCPU, *thinner, &note));
  EXPECT_NE(note.find("layer2.0.downsample.0 (4 input channels, 1x1 stride 2) and 1 more"), std::string::npos)
      << note;  // layer2's and layer3's shortcuts
}

// Run only by NarrowModelStepRunsInAChildProcessWithContiguousGradients, in a child process.
TEST(ChannelsLast, DISABLED_NarrowModelStepChild) {
  const char* out = std::getenv(kChildOut);
  const char* request = std::getenv(kChildRequest);
  ASSERT_TRUE(out && request);
  const auto mf = core::parse_choice<core::MemoryFormat>(request);
  ASSERT_TRUE(mf.has_value());
  bool cl = false;
  auto grads = narrow_step_gradients(*mf, &cl);
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  for (size_t i = 0; i < grads.size(); ++i) d.insert("g" + std::to_string(i), grads[i]);
  d.insert("channels_last", torch::tensor({cl ? 1 : 0}));
  const auto bytes = io::torch_save(c10::IValue(d));
  std::ofstream(out, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(ChannelsLast, NarrowModelStepRunsInAChildProcessWithContiguousGradients) {
  bool cl = true;
  const auto expected = narrow_step_gradients(core::MemoryFormat::kContiguous, &cl);
  ASSERT_FALSE(cl);
  const auto self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const std::string request : {"auto", "channels_last"}) {
    const auto out = std::filesystem::temp_directory_path() /
                     ("flatclr_narrow_" + std::to_string(::getpid()) + "_" + request + ".pt");
    std::filesystem::remove(out);
    const std::string cmd = std::string(kChildOut) + "=" + out.string() + " " + kChildRequest + "=" +
                            request + " " + self +
                            " --gtest_filter=ChannelsLast.DISABLED_NarrowModelStepChild"
                            " --gtest_also_run_disabled_tests > " +
                            out.string() + ".log 2>&1";
    const int status = std::system(cmd.c_str());
    std::ifstream log(out.string() + ".log");
    std::stringstream log_text;
    log_text << log.rdbuf();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "--memory_format=" << request << ": the child step failed (status " << status
        << "; a signal means oneDNN crashed):\n"
        << log_text.str();
    const auto got = io::to_state_dict(io::torch_load(out.string()), out.string());
    std::filesystem::remove(out);
    std::filesystem::remove(out.string() + ".log");
    ASSERT_EQ(got.size(), expected.size() + 1);
    EXPECT_EQ(got.at("channels_last").item<int64_t>(), 0)
        << request << ": this model must train contiguous on a CPU";
    for (size_t i = 0; i < expected.size(); ++i) {
      const auto& g = got.at("g" + std::to_string(i));
      // Contiguous in both: the same kernels, the same sums (a channels-last step would differ by rounding,
      // within 1e-3 of the largest gradient).
      const double scale = expected[i].abs().max().item<double>() + 1e-12;
      const double diff = (g - expected[i]).abs().max().item<double>();
      EXPECT_LE(diff, 1e-3 * scale) << request << ", parameter " << i;
    }
  }
}
