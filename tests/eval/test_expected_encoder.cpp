// An evaluation's --model (and the other flags that describe the encoder) against the checkpoint's encoder:
// agreeing values pass, a contradiction names the field, both values and the checkpoint.
#include <gtest/gtest.h>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/eval/encoder_loader.h"
#include "flatclr/eval/expected_encoder.h"

using namespace flatclr;

namespace {

models::ResNetOptions res18_quarter_width() {
  models::ResNetOptions o;
  o.arch = models::Arch::kRes18;
  o.width_multiplier = 0.25;
  o.head.mode = models::HeadMode::kNonlinear;
  o.head.num_layers = 2;
  o.head.out_dim = 128;
  return o;
}

// The message of the UserError `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ExpectedEncoder, NothingGivenOrEverythingAgreeingPasses) {
  const auto found = res18_quarter_width();
  EXPECT_NO_THROW(eval::check_expected_encoder({}, found, "ckpt"));
  eval::ExpectedEncoder all;
  all.arch = models::Arch::kRes18;
  all.width_multiplier = 0.25;
  all.head_mode = models::HeadMode::kNonlinear;
  all.head_num_layers = 2;
  all.head_out_dim = 128;
  EXPECT_NO_THROW(eval::check_expected_encoder(all, found, "ckpt"));
}

TEST(ExpectedEncoder, EachContradictionNamesTheFieldBothValuesAndTheCheckpoint) {
  const auto found = res18_quarter_width();
  struct Case {
    eval::ExpectedEncoder given;
    std::string field, given_text, found_text;
  };
  std::vector<Case> cases(5);
  cases[0] = {{}, "`model.arch`", "=res50", "=res18"};
  cases[0].given.arch = models::Arch::kRes50;
  cases[1] = {{}, "`model.width_multiplier`", "=0.5", "=0.25"};
  cases[1].given.width_multiplier = 0.5;
  cases[2] = {{}, "`model.head.mode`", "=linear", "=nonlinear"};
  cases[2].given.head_mode = models::HeadMode::kLinear;
  cases[3] = {{}, "`model.head.num_layers`", "=3", "=2"};
  cases[3].given.head_num_layers = 3;
  cases[4] = {{}, "`model.head.out_dim`", "=64", "=128"};
  cases[4].given.head_out_dim = 64;
  for (const auto& c : cases) {
    const std::string msg =
        error_of([&] { eval::check_expected_encoder(c.given, found, "runs/a/ckpt.pth.tar"); });
    ASSERT_FALSE(msg.empty()) << c.field;
    EXPECT_NE(msg.find(c.field + c.given_text + " contradicts runs/a/ckpt.pth.tar"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(c.field + c.found_text), std::string::npos) << msg;
  }
}

TEST(ExpectedEncoder, WidthsAgreeWhenTheyBuildTheSameStem) {
  // infer_resnet_options reads width = stem channels / 64: a 0.3-wide run (stem lround(19.2) = 19) reads as
  // 0.296875, which must not contradict --width_multiplier=0.3.
  auto found = res18_quarter_width();
  found.width_multiplier = 19.0 / 64.0;
  eval::ExpectedEncoder given;
  given.width_multiplier = 0.3;
  EXPECT_NO_THROW(eval::check_expected_encoder(given, found, "ckpt"));
  given.width_multiplier = 0.25;
  EXPECT_THROW(eval::check_expected_encoder(given, found, "ckpt"), UsageError);
}

TEST(ExpectedEncoder, HeadFieldsThatTheHeadDoesNotHaveAreNotCompared) {
  // A linear head has one Linear layer whatever num_layers says (pretraining ignores it too).
  auto found = res18_quarter_width();
  found.head.mode = models::HeadMode::kLinear;
  eval::ExpectedEncoder given;
  given.head_num_layers = 5;
  EXPECT_NO_THROW(eval::check_expected_encoder(given, found, "ckpt"));
  // No head: z = h, so a claimed output dimension cannot be checked; the mode can.
  found.head.mode = models::HeadMode::kNone;
  given = {};
  given.head_out_dim = 64;
  EXPECT_NO_THROW(eval::check_expected_encoder(given, found, "ckpt"));
  given.head_mode = models::HeadMode::kNonlinear;
  EXPECT_THROW(eval::check_expected_encoder(given, found, "ckpt"), UsageError);
}

TEST(ExpectedEncoder, PaperCheckpointIsCheckedAgainstItsStateDictsShapes) {
  // The paper's checkpoint: its architecture is what its state dict's shapes say (a res18 here), which is
  // what --model must name, as the paper's code could only load it into a network built from that --model.
  const auto path = flatclr::testing::source_path("tests/io/data/paper_checkpoint.pth.tar");
  const auto enc = eval::load_encoder(path);
  eval::ExpectedEncoder given;
  given.arch = models::Arch::kRes18;
  EXPECT_NO_THROW(eval::check_expected_encoder(given, enc.model->options, path));
  given.arch = models::Arch::kRes34;
  const std::string msg = error_of([&] { eval::check_expected_encoder(given, enc.model->options, path); });
  EXPECT_NE(msg.find("`model.arch`=res34 contradicts " + path), std::string::npos) << msg;
  EXPECT_NE(msg.find("`model.arch`=res18"), std::string::npos) << msg;
}
