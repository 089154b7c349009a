// The command line: the reference's flags, strict booleans, exit code 2 naming the flag on bad input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "flatclr/cli/args.h"
#include "flatclr/core/build_info.h"
#include "flatclr/core/threads.h"

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
  for (const auto& c : std::vector<Case>{
           {{"--batch_sise=3"}, "--batch_sise"},
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
           {{"--workers=-2"}, "--workers=-2: expected an integer >= 0 (or -1: one per core)"},
           {{"--bad_images=sometimes"}, "--bad_images"},
           {{"--diag_rank_every=-1"}, "--diag_rank_every"},
           {{"--on_nonfinite=ignore"}, "--on_nonfinite"},
           {{"--precision=half"}, "--precision=half: expected one of auto, fp32, bf16, fp16"},
           {{"--memory_format=nhwc"},
            "--memory_format=nhwc: expected one of auto, contiguous, channels_last"},
           {{"--fp16_precision=True", "--precision=bf16"},
            "--fp16_precision=true asks for fp16 but --precision=bf16"},
           {{"--train_mode=eval", "--checkpoint_dir=r", "--precision=bf16"},
            "--precision: a pretraining flag"},
           {{"--tensorboard=yes"}, "--tensorboard"},
           {{"--dist_backend=mpi"}, "--dist_backend"},
           {{"--dist_timeout=0"}, "--dist_timeout"},
           {{"--sync_bn=maybe"}, "--sync_bn"},
           {{"--progress=fancy"}, "--progress=fancy: expected one of auto, bar"},
           {{"--proj_head_mode=mlp"}, "--proj_head_mode=mlp"},
           {{"--clr=SimCLR"}, "--clr=SimCLR: expected one of simclr, flatclr"},
           {{"--train_mode=eval", "--checkpoint_dir=x", "--transfer_mode=probe"},
            "--transfer_mode=probe: expected one of linear_eval, finetune, knn"},
           {{"--train_mode=pretrain"}, "--train_mode=pretrain: expected one of ssl, eval, transfer"},
           {{"--train_mode=transfer", "--checkpoint_dir=x", "--transfer_dataset_name=../up"},
            "--transfer_dataset_name=../up: expected cifar10, cifar100 or the name"},
           {{"--train_mode=eval", "--checkpoint_dir=x", "--transfer_dataset_name=cifar100"},
            "--transfer_dataset_name=cifar100: only for transfer runs"},
           {{"--train_mode=semi", "--checkpoint_dir=x", "--semi_ratio=1.5"}, "--semi_ratio=1.5"},
           {{"--train_mode=transfer", "--checkpoint_dir=x", "--semi_list=l.txt"},
            "--semi_list=l.txt: only for semi-supervised runs"},
           {{"--train_mode=semi", "--checkpoint_dir=x", "--data_fraction=0.5"},
            "--data_fraction=0.5: semi-supervised runs choose their labelled share with --semi_ratio"},
           {{"--train_mode=supervised", "--fc_batch_size=0"}, "--fc_batch_size"},
           {{"--train_mode=supervised", "--width_multiplier=0"}, "--width_multiplier"},
           {{"--from_pretrained=True"}, "--from_pretrained=True"},
           // a flag that the job would silently ignore
           {{"--fc_epochs=5"}, "--fc_epochs: an evaluation flag, which pretraining"},
           {{"--knn_k=10"}, "--knn_k: an evaluation flag"},
           {{"--checkpoint_dir=r"}, "--checkpoint_dir: an evaluation flag"},
           {{"--train_mode=eval", "--checkpoint_dir=r", "--epochs=3"},
            "--epochs: a pretraining flag, which --train_mode=eval does not use"},
           {{"--train_mode=transfer", "--checkpoint_dir=r", "--batch_size=64"},
            "--batch_size: a pretraining flag, which --train_mode=transfer does not use"},
           {{"--train_mode=eval", "--checkpoint_dir=r", "--width_multiplier=0"}, "--width_multiplier=0"},
           {{"--train_mode=eval", "--checkpoint_dir=r", "--model=res20"}, "--model=res20"},
           {{"--train_mode=transfer", "--checkpoint_dir=r", "--temperature=0.5"},
            "--temperature: a pretraining flag"},
           {{"--train_mode=semi", "--checkpoint_dir=r", "--clr=simclr"}, "--clr: a pretraining flag"},
           {{"--train_mode=supervised", "--epochs=3"}, "--epochs: not used by --train_mode=supervised"},
           {{"--train_mode=eval", "--cuda_graphs=False"},
            "--cuda_graphs: a pretraining flag, which --train_mode=eval does not use"},
           {{"--cuda_graphs=maybe"}, "--cuda_graphs"},
           {{"--train_mode=supervised", "--checkpoint_dir=r"}, "--checkpoint_dir: not used"},
           {{"export", "--output=x.pth"}, "--checkpoint_dir"},
           {{"export", "--checkpoint_dir=r", "--output=x.onnx"}, "give --format=pth or --format=safetensors"},
           {{"export", "--checkpoint_dir=r", "--output=x.pth", "--format=pt"}, "--format=pt"},
           {{"export", "--checkpoint_dir=r", "--output=x.pth", "--bogus=1"}, "--bogus"},
           {{"embed", "--checkpoint_dir=r"}, "--output"},
           {{"embed", "--checkpoint_dir=r", "--output=p", "--batch_size=0"}, "--batch_size=0"},
           {{"embed", "--checkpoint_dir=r", "--output=p", "--projection=yes"}, "--projection"},
           {{"embed", "--checkpoint_dir=r", "--output=p", "--dataset_name=a/b"}, "--dataset_name=a/b"}}) {
    auto r = run(c.args);
    EXPECT_TRUE(r.parsed.exit_now) << c.args[0];
    EXPECT_EQ(r.parsed.exit_code, 2) << c.args[0];
    EXPECT_NE(r.err.find(c.must_mention), std::string::npos) << c.args[0] << " -> " << r.err;
  }
}

TEST(Args, EvaluationTakesTheFlagsThatDescribeTheEncoderToCheckThem) {
  // The paper's evaluation command repeats --model; only the flags given are checked against the checkpoint.
  auto r = run({"--train_mode=eval", "--model=res18", "--checkpoint_dir=runs/r18"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.command, flatclr::cli::Command::kEvaluate);
  EXPECT_EQ(r.parsed.eval.model.arch, flatclr::models::Arch::kRes18);
  EXPECT_FALSE(r.parsed.eval.model.width_multiplier.has_value());
  EXPECT_FALSE(r.parsed.eval.model.head_mode.has_value());
  r = run({"--train_mode=semi", "--checkpoint_dir=r", "--width_multiplier=0.25", "--proj_head_mode=linear",
           "--num_proj_layers=3", "--proj_out_dim=64"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  // --model not given: its default, res50, is not a claim about the checkpoint.
  EXPECT_FALSE(r.parsed.eval.model.arch.has_value());
  EXPECT_EQ(r.parsed.eval.model.width_multiplier, 0.25);
  EXPECT_EQ(r.parsed.eval.model.head_mode, flatclr::models::HeadMode::kLinear);
  EXPECT_EQ(r.parsed.eval.model.head_num_layers, 3);
  EXPECT_EQ(r.parsed.eval.model.head_out_dim, 64);
  r = run({"--train_mode=eval", "--checkpoint_dir=r"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_TRUE(r.parsed.eval.model.empty());
}

TEST(Args, TrainModesAndSubcommandsBecomeTheirCommands) {
  using flatclr::cli::Command;
  auto r = run({"--train_mode=semi", "--checkpoint_dir=x", "--semi_ratio=0.01"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.command, Command::kEvaluate);
  EXPECT_EQ(r.parsed.eval.protocol, flatclr::eval::Protocol::kSemi);
  EXPECT_EQ(r.parsed.eval.transfer_mode,
            flatclr::eval::TransferMode::kFinetune);  // semi finetunes by default
  EXPECT_EQ(r.parsed.eval.semi_ratio, 0.01);
  r = run({"--train_mode=transfer", "--checkpoint_dir=x", "--transfer_dataset_name=cifar100"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.eval.protocol, flatclr::eval::Protocol::kTransfer);
  EXPECT_EQ(r.parsed.eval.transfer_dataset, "cifar100");
  r = run(
      {"--train_mode=supervised", "--dataset_name=cifar100", "--model=res18", "--fc_epochs=3", "--seed=5"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.command, Command::kSupervised);
  EXPECT_EQ(r.parsed.supervised.data.dataset_name, "cifar100");
  EXPECT_EQ(r.parsed.supervised.model.arch, flatclr::models::Arch::kRes18);
  EXPECT_EQ(r.parsed.supervised.probe.epochs, 3);
  EXPECT_EQ(r.parsed.supervised.run.seed, 5);
  r = run({"export", "--checkpoint_dir=r", "--output=e.safetensors"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.command, Command::kExport);
  EXPECT_EQ(r.parsed.export_config.format, flatclr::eval::ExportFormat::kSafetensors);
  r = run({"export", "--checkpoint_dir=r", "--output=e.bin", "--format", "safetensors",
           "--transfer_from_epoch=4"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.export_config.format, flatclr::eval::ExportFormat::kSafetensors);
  EXPECT_EQ(r.parsed.export_config.transfer_from_epoch, 4);
  r = run({"embed", "--checkpoint_dir=r", "--output=p", "--split=train", "--projection=True", "--threads=1"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.command, Command::kEmbed);
  EXPECT_EQ(r.parsed.embed.split, flatclr::eval::Split::kTrain);
  EXPECT_TRUE(r.parsed.embed.projection);
  EXPECT_EQ(r.parsed.embed.run.threads, 1);
  EXPECT_TRUE(r.parsed.embed.data.dataset_name.empty());  // the pretraining dataset
  r = run({"embed", "--help"});
  EXPECT_EQ(r.parsed.exit_code, 0);
  EXPECT_NE(r.out.find("--split"), std::string::npos) << r.out;
}

TEST(Args, ThreadsAndWorkersDefaultToTheCoresSharedByTheProcessesOnTheMachine) {
  auto r = run({"--dataset_name=cifar10"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.config.run.threads, flatclr::core::cores_per_process(1));
  EXPECT_EQ(r.parsed.config.data.workers, flatclr::core::cores_per_process(1));
  // Two processes of a torchrun / scripts/launch.sh job on this machine share its cores.
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "1", 1);
  ::setenv("LOCAL_WORLD_SIZE", "2", 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", "29555", 1);
  r = run({"--dataset_name=cifar10", "--batch_size=64"});
  const int share = flatclr::core::cores_per_process(2);
  EXPECT_EQ(r.parsed.config.run.threads, share);
  EXPECT_EQ(r.parsed.config.data.workers, share);
  EXPECT_EQ(share, std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2));
  r = run({"--dataset_name=cifar10", "--batch_size=64", "--threads=3", "--workers=0"});  // given: kept
  EXPECT_EQ(r.parsed.config.run.threads, 3);
  EXPECT_EQ(r.parsed.config.data.workers, 0);
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    ::unsetenv(v);
}

// --help says which build this is; a CPU-only build refuses --device=cuda before anything runs (exit 2, the
// flag and the value named), a CUDA build leaves it to the device choice.
TEST(Args, HelpSaysWhichBuildAndACpuOnlyBuildRefusesDeviceCuda) {
  auto r = run({"--help"});
  const std::string build = flatclr::core::kCudaBuild ? "This flatclr: CUDA build (LibTorch 2.11"
                                                      : "This flatclr: CPU-only build (LibTorch 2.11";
  EXPECT_NE(r.out.find(build), std::string::npos) << r.out;
  r = run({"--device=cuda", "--dataset_name=cifar10"});
  if (flatclr::core::kCudaBuild) {
    EXPECT_FALSE(r.parsed.exit_now) << r.err;
  } else {
    EXPECT_TRUE(r.parsed.exit_now);
    EXPECT_EQ(r.parsed.exit_code, 2);
    EXPECT_NE(r.err.find("--device=cuda: this flatclr is a CPU-only build"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("use --device=cpu or auto"), std::string::npos) << r.err;
  }
}

TEST(Args, MomentumHelpSaysItDrivesLarsToo) {
  auto r = run({"--help"});
  EXPECT_NE(r.out.find("momentum of SGD and of LARS"), std::string::npos) << r.out;
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

TEST(Args, ColorJitterStrengthIsUnsetUnlessGivenAndStaysInItsRange) {
  auto r = run({"--dataset_name=cifar10"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_FALSE(r.parsed.config.color_jitter_strength.has_value());  // the dataset's (or a resumed run's)
  EXPECT_NE(r.parsed.config.to_json().find("\"color_jitter_strength\": null"), std::string::npos);
  for (double s : {0.0, 0.25, 1.0, 2.5}) {
    r = run({"--dataset_name=cifar10", "--color_jitter_strength=" + std::to_string(s)});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    ASSERT_TRUE(r.parsed.config.color_jitter_strength.has_value()) << s;
    EXPECT_DOUBLE_EQ(*r.parsed.config.color_jitter_strength, s);
  }
  r = run({"--color_jitter_strength", "0.25", "--faster_version=False"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_NE(r.parsed.config.to_json().find("\"color_jitter_strength\": 0.25"), std::string::npos);
  struct Case {
    std::string value, must_mention;
  };
  for (const auto& c :
       std::vector<Case>{{"-0.1", "--color_jitter_strength=-0.1: expected a number in [0, 2.5]"},
                         {"2.6", "--color_jitter_strength=2.6: expected a number in [0, 2.5]"},
                         {"nan", "--color_jitter_strength"},
                         {"strong", "--color_jitter_strength"}}) {
    r = run({"--color_jitter_strength=" + c.value});
    EXPECT_TRUE(r.parsed.exit_now) << c.value;
    EXPECT_EQ(r.parsed.exit_code, 2) << c.value;
    EXPECT_NE(r.err.find(c.must_mention), std::string::npos) << c.value << " -> " << r.err;
  }
  // Evaluation has no augmentation of its own to set: the flag is refused there.
  r = run({"--train_mode=eval", "--checkpoint_dir=r", "--color_jitter_strength=0"});
  EXPECT_EQ(r.parsed.exit_code, 2);
  EXPECT_NE(r.err.find("--color_jitter_strength: a pretraining flag"), std::string::npos) << r.err;
  r = run({"--help"});
  EXPECT_NE(r.out.find("--color_jitter_strength"), std::string::npos);
  EXPECT_NE(r.out.find("ColorJitter(0.8s, 0.8s, 0.8s, 0.2s)"), std::string::npos) << r.out;
}

TEST(Args, CropMinScaleIsThePapersUnlessGivenAndStaysInItsRange) {
  auto r = run({"--dataset_name=cifar10"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_DOUBLE_EQ(r.parsed.config.crop_min_scale, 0.08);
  EXPECT_NE(r.parsed.config.to_json().find("\"crop_min_scale\": 0.08"), std::string::npos);
  for (double s : {0.01, 0.5, 1.0}) {
    r = run({"--dataset_name=cifar10", "--crop_min_scale=" + std::to_string(s)});
    ASSERT_FALSE(r.parsed.exit_now) << r.err;
    EXPECT_DOUBLE_EQ(r.parsed.config.crop_min_scale, s);
  }
  struct Case {
    std::string value, must_mention;
  };
  for (const auto& c : std::vector<Case>{{"0", "--crop_min_scale=0: expected a number in (0, 1]"},
                                         {"-0.5", "--crop_min_scale=-0.5: expected a number in (0, 1]"},
                                         {"1.5", "--crop_min_scale=1.5: expected a number in (0, 1]"},
                                         {"nan", "--crop_min_scale"},
                                         {"half", "--crop_min_scale"}}) {
    r = run({"--crop_min_scale=" + c.value});
    EXPECT_TRUE(r.parsed.exit_now) << c.value;
    EXPECT_EQ(r.parsed.exit_code, 2) << c.value;
    EXPECT_NE(r.err.find(c.must_mention), std::string::npos) << c.value << " -> " << r.err;
  }
  r = run({"--train_mode=eval", "--checkpoint_dir=r", "--crop_min_scale=0.5"});
  EXPECT_EQ(r.parsed.exit_code, 2);
  EXPECT_NE(r.err.find("--crop_min_scale: a pretraining flag"), std::string::npos) << r.err;
}

TEST(Args, PrecisionFlagsAndTheReferencesFp16Flag) {
  auto r = run({"--dataset_name=cifar10"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.config.precision, flatclr::core::Precision::kAuto);
  EXPECT_EQ(r.parsed.config.memory_format, flatclr::core::MemoryFormat::kAuto);
  r = run({"--dataset_name=cifar10", "--fp16_precision=True"});  // the reference's command line
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.config.precision, flatclr::core::Precision::kFp16);
  r = run({"--dataset_name=cifar10", "--precision=bf16", "--memory_format=contiguous"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_EQ(r.parsed.config.precision, flatclr::core::Precision::kBf16);
  EXPECT_EQ(r.parsed.config.memory_format, flatclr::core::MemoryFormat::kContiguous);
  EXPECT_NE(r.parsed.config.to_json().find("\"precision\": \"bf16\""), std::string::npos);
  EXPECT_TRUE(r.parsed.config.cuda_graphs);  // on by default (in effect on CUDA with LARS, one process)
  r = run({"--dataset_name=cifar10", "--cuda_graphs=False"});
  ASSERT_FALSE(r.parsed.exit_now) << r.err;
  EXPECT_FALSE(r.parsed.config.cuda_graphs);
  EXPECT_NE(r.parsed.config.to_json().find("\"cuda_graphs\": false"), std::string::npos);
}
