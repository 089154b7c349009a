// The command line: the reference's flags, strict booleans, exit code 2 naming the flag on bad input.
#include <gtest/gtest.h>

#include <sstream>

#include "flatclr/cli/args.h"

using flatclr::cli::parse_args;

namespace {

struct Run {
  flatclr::cli::ParsedArgs parsed;
  std::string out, err;
};

Run run(std::vector<std::string> args) {
  args.insert(args.begin(), "flatclr");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  Run r{parse_args(static_cast<int>(argv.size()), argv.data(), out, err), "", ""};
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace

TEST(Args, PaperReadmeCommandParses) {
  auto r = run({"--dataset_name=cifar10", "--clr=flatclr", "--faster_version=True"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  const auto& c = r.parsed.config;
  EXPECT_EQ(c.data.dataset_name, "cifar10");
  EXPECT_EQ(c.clr, flatclr::losses::Method::kFlatCLR);
  EXPECT_TRUE(c.faster_version);
  // Reference defaults.
  EXPECT_EQ(c.batch_size, 512);
  EXPECT_EQ(c.epochs, 100);
  EXPECT_DOUBLE_EQ(c.lr, 0.6);
  EXPECT_DOUBLE_EQ(c.effective_lr, 0.6);
  EXPECT_EQ(c.optimizer, flatclr::optim::OptimizerKind::kLars);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1e-6);
  EXPECT_EQ(c.warmup_epochs, 10);
  EXPECT_DOUBLE_EQ(c.temperature, 0.1);
  EXPECT_EQ(c.model.arch, flatclr::models::Arch::kRes50);
  EXPECT_EQ(c.model.head.out_dim, 128);
  EXPECT_EQ(c.save_every_n_epochs, 2);
  EXPECT_EQ(c.data.root, "./datasets");
}

TEST(Args, SpaceSeparatedValuesAndStrictBooleans) {
  auto r = run({"--batch_size", "64", "--faster_version", "false", "--clr", "simclr"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.config.batch_size, 64);
  EXPECT_FALSE(r.parsed.config.faster_version);
  for (const char* v : {"true", "True", "1"}) {
    EXPECT_TRUE(run({std::string("--faster_version=") + v}).parsed.config.faster_version) << v;
  }
  for (const char* v : {"false", "False", "0"}) {
    EXPECT_FALSE(run({std::string("--faster_version=") + v}).parsed.config.faster_version) << v;
  }
  // The reference's type=bool turned any string into True; here it is an error.
  auto bad = run({"--faster_version=yes"});
  EXPECT_TRUE(bad.parsed.exit_now);
  EXPECT_EQ(bad.parsed.exit_code, 2);
  EXPECT_NE(bad.err.find("--faster_version"), std::string::npos) << bad.err;
}

TEST(Args, LearningRateScalingReproducesReadmeTable) {
  auto lin = run({"--lr=0.3", "--learning_rate_scaling=linear", "--batch_size=512"});
  EXPECT_NEAR(lin.parsed.config.effective_lr, 0.6, 1e-12);
  auto sq = run({"--lr=0.075", "--learning_rate_scaling=sqrt", "--batch_size=4096"});
  EXPECT_NEAR(sq.parsed.config.effective_lr, 4.8, 1e-12);
}

TEST(Args, UnknownFlagMalformedAndOutOfRangeValuesExit2NamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string must_mention;
  };
  for (const auto& c :
       std::vector<Case>{{{"--batch_sise=3"}, "--batch_sise"},
                         {{"--batch_size=abc"}, "--batch_size"},
                         {{"--batch_size=0"}, "--batch_size"},
                         {{"--lr=-1"}, "--lr"},
                         {{"--temperature=0"}, "--temperature"},
                         {{"--clr=moco"}, "--clr"},
                         {{"--model=res20"}, "--model"},
                         {{"--optimizer=rmsprop"}, "--optimizer"},
                         {{"--learning_rate_scaling=cube"}, "--learning_rate_scaling"},
                         {{"--data_fraction=1.5"}, "--data_fraction"},
                         {{"--data_fraction=0"}, "--data_fraction"},
                         {{"--scheduler=None"}, "--scheduler"},
                         {{"--device=tpu"}, "--device"},
                         {{"--train_from=checkpoint_0002.pth.tar"}, "--log_dir"},
                         {{"--epochs=1.5"}, "--epochs"},
                         {{"--workers=-1"}, "--workers"},
                         {{"--bad_images=sometimes"}, "--bad_images"},
                         {{"--diag_rank_every=-1"}, "--diag_rank_every"},
                         {{"--on_nonfinite=ignore"}, "--on_nonfinite"},
                         {{"--tensorboard=yes"}, "--tensorboard"},
                         {{"--dist_backend=mpi"}, "--dist_backend"},
                         {{"--dist_timeout=0"}, "--dist_timeout"},
                         {{"--sync_bn=maybe"}, "--sync_bn"},
                         {{"--progress=fancy"}, "--progress=fancy: expected one of auto, bar"},
                         {{"--proj_head_mode=mlp"}, "--proj_head_mode=mlp"},
                         {{"--clr=SimCLR"}, "--clr=SimCLR: expected one of simclr, flatclr"},
                         {{"--train_mode=eval", "--checkpoint_dir=x", "--transfer_mode=probe"},
                          "--transfer_mode=probe: expected one of linear_eval, finetune, knn"}}) {
    auto r = run(c.args);
    EXPECT_TRUE(r.parsed.exit_now) << c.args[0];
    EXPECT_EQ(r.parsed.exit_code, 2) << c.args[0];
    EXPECT_NE(r.err.find(c.must_mention), std::string::npos) << c.args[0] << " -> " << r.err;
  }
}

TEST(Args, HelpListsEveryFlagWithItsDefault) {
  auto r = run({"--help"});
  EXPECT_TRUE(r.parsed.exit_now);
  EXPECT_EQ(r.parsed.exit_code, 0);
  for (const char* flag : {"--dataset_name",
                           "--clr",
                           "--faster_version",
                           "--batch_size",
                           "--epochs",
                           "--lr",
                           "--learning_rate_scaling",
                           "--optimizer",
                           "--weight_decay",
                           "--warmup_epochs",
                           "--scheduler",
                           "--temperature",
                           "--model",
                           "--proj_head_mode",
                           "--num_proj_layers",
                           "--proj_out_dim",
                           "--save_every_n_epochs",
                           "--data",
                           "--seed",
                           "--device",
                           "--log_dir",
                           "--train_from",
                           "--width_multiplier",
                           "--data_fraction",
                           "--threads"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  }
  EXPECT_NE(r.out.find("512"), std::string::npos);    // --batch_size default
  EXPECT_NE(r.out.find("res50"), std::string::npos);  // --model default
  EXPECT_NE(r.out.find("0.6"), std::string::npos);    // --lr default
}
