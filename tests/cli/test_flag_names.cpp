// The library names configuration fields, the CLI names flags: every field a library message can name has a
// flag, every flag of the table exists, and what reaches the user (errors, printed lines) names the flag.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "../test_paths.h"
#include "flatclr/cli/args.h"
#include "flatclr/cli/flag_names.h"
#include "flatclr/core/error.h"

using flatclr::cli::flag_of;
using flatclr::cli::to_flags;
namespace fs = std::filesystem;

namespace {

flatclr::cli::ParsedArgs parse(std::vector<std::string> args, std::string* err_text = nullptr,
                               std::string* out_text = nullptr) {
  args.insert(args.begin(), "flatclr");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  auto parsed = flatclr::cli::parse_args(static_cast<int>(argv.size()), argv.data(), out, err);
  if (err_text) *err_text = err.str();
  if (out_text) *out_text = out.str();
  return parsed;
}

}  // namespace

TEST(FlagNames, EveryFieldNamedInTheLibraryHasAFlag) {
  // Field{"..."} in any source file of the library, and backquoted option names in the report's advice.
  const std::regex field(R"re(Field\{"([a-z_.]+)"\})re");
  std::set<std::string> named;
  for (const auto& e : fs::recursive_directory_iterator(flatclr::testing::source_path("src/flatclr"))) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::sregex_iterator it(text.begin(), text.end(), field), end; it != end; ++it)
      named.insert((*it)[1]);
  }
  EXPECT_GT(named.size(), 30u) << "the scan found the library's field names";
  for (const auto& name : named) EXPECT_NE(flag_of(name), "") << name << " has no flag in cli/flag_names.cpp";
}

TEST(FlagNames, EveryFlagOfTheTableIsAnOptionOfTheCommandLine) {
  // The main command's flags and those of the export and embed subcommands.
  std::string out, sub;
  parse({"--help"}, nullptr, &out);
  parse({"export", "--help"}, nullptr, &sub);
  out += sub;
  parse({"embed", "--help"}, nullptr, &sub);
  out += sub;
  for (const auto& [field, flag] : flatclr::cli::field_flags()) {
    EXPECT_NE(out.find(std::string(flag) + " "), std::string::npos) << flag << " (" << field << ")";
  }
}

TEST(FlagNames, MessagesNameTheFlag) {
  EXPECT_EQ(to_flags("`data.fraction`=1.5: expected a fraction in (0, 1]"),
            "--data_fraction=1.5: expected a fraction in (0, 1]");
  EXPECT_EQ(to_flags("`probe.epochs`=0 and `model.head.mode`"), "--fc_epochs=0 and --proj_head_mode");
  // config.json's keys are the flags' names.
  EXPECT_EQ(to_flags("resuming with `batch_size`=64"), "resuming with --batch_size=64");
  // Anything else in backquotes stays: a command, an unknown name, an unpaired quote.
  EXPECT_EQ(to_flags("run `flatclr diagnose results/x` or `nothing`; `open"),
            "run `flatclr diagnose results/x` or `nothing`; `open");
  std::ostringstream os;
  os << flatclr::Field{"run.device"} << "=cuda";
  EXPECT_EQ(to_flags(os.str()), "--device=cuda");
}

TEST(FlagNames, TheFilterRewritesWhatIsPrintedLineByLineEvenWhenFlushedPiecewise) {
  std::ostringstream sink;
  {
    flatclr::cli::FlagNamesFilter filter(sink);
    sink << std::unitbuf;  // as std::cerr: a flush after every write
    sink << "skipped (" << flatclr::Field{"on_nonfinite"} << "=skip)\n";
    sink << "half `da"
         << "ta.root` line";
  }
  EXPECT_EQ(sink.str(), "skipped (--on_nonfinite=skip)\nhalf --data line");
}

TEST(FlagNames, ValidationErrorsOfBothModesNameTheFlag) {
  std::string err;
  EXPECT_EQ(parse({"--data_fraction=0"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--data_fraction=0: expected a fraction in (0, 1]"), std::string::npos) << err;
  EXPECT_EQ(parse({"--width_multiplier=-1"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--width_multiplier=-1: expected a positive number"), std::string::npos) << err;
  EXPECT_EQ(parse({"--optimizer=rmsprop"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--optimizer=rmsprop: expected one of lars, sgd, adam"), std::string::npos) << err;
  EXPECT_EQ(parse({"--train_mode=eval"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--checkpoint_dir: evaluation needs the pretraining run folder, e.g. --checkpoint_dir="),
            std::string::npos)
      << err;
  EXPECT_EQ(parse({"--train_mode=eval", "--checkpoint_dir=x", "--fc_epochs=0"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--fc_epochs=0: expected an integer >= 1"), std::string::npos) << err;
  EXPECT_EQ(parse({"--train_mode=eval", "--checkpoint_dir=x", "--fc_optimizer=lbfgs"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--fc_optimizer=lbfgs: expected one of lars, sgd, adam"), std::string::npos) << err;
  EXPECT_EQ(parse({"--train_mode=eval", "--checkpoint_dir=x", "--eval_test_fraction=2"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--eval_test_fraction=2"), std::string::npos) << err;
  EXPECT_EQ(parse({"--train_mode=train"}, &err).exit_code, 2);
  EXPECT_NE(err.find("--train_mode=train: expected one of ssl, eval, transfer"), std::string::npos) << err;
  EXPECT_EQ(err.find('`'), std::string::npos) << "no field name reaches the user: " << err;
}

TEST(FlagNames, SharedSettingsReachTheEvaluationAsAWhole) {
  auto p = parse({"--train_mode=eval", "--checkpoint_dir=x", "--data=/d", "--workers=3", "--bad_images=stop",
                  "--data_fraction=0.5", "--seed=7", "--threads=1", "--device=cpu", "--progress=lines"});
  ASSERT_FALSE(p.exit_now);
  ASSERT_EQ(p.command, flatclr::cli::Command::kEvaluate);
  const auto& e = p.eval;
  EXPECT_EQ(e.data.root, "/d");
  EXPECT_EQ(e.data.dataset_name, "") << "not given: the pretraining dataset";
  EXPECT_EQ(e.data.workers, 3);
  EXPECT_EQ(e.data.bad_images, flatclr::data::BadImagesPolicy::kStop);
  EXPECT_EQ(e.data.fraction, 0.5);
  EXPECT_EQ(e.run.seed, 7);
  EXPECT_EQ(e.run.threads, 1);
  EXPECT_EQ(e.run.device, "cpu");
  EXPECT_EQ(e.run.progress, flatclr::core::ProgressMode::kLines);
  EXPECT_EQ(
      parse({"--train_mode=eval", "--checkpoint_dir=x", "--dataset_name=cifar100"}).eval.data.dataset_name,
      "cifar100");
}
