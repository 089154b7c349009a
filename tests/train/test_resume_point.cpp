// The checkpoints of a run folder in the order a restart tries them (most steps first, an epoch's before a
// step checkpoint of the same step), the removal of older step checkpoints, and the job's run folder under
// torchrun. (That the newest loadable one is resumed, from inside an epoch, is test_pretrain_loop.cpp's.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "flatclr/train/resume_point.h"

namespace flatclr::train {
namespace {

namespace fs = std::filesystem;

fs::path fresh(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / (name + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(ResumePoint, ListsCheckpointsMostStepsFirst) {
  const fs::path d = fresh("flatclr_resume_point");
  for (const char* name :
       {"checkpoint_0001.pth.tar", "checkpoint_step_00000005.pth.tar", "checkpoint_0002.pth.tar",
        "checkpoint_step_00000006.pth.tar", "config.json", "checkpoint_0003.pth.tar.tmp123"})
    std::ofstream(d / name) << "x";
  const auto found = list_run_checkpoints(d.string(), 3);
  std::vector<std::string> names;
  std::vector<int64_t> steps;
  for (const auto& f : found) {
    names.push_back(fs::path(f.path).filename().string());
    steps.push_back(f.global_step);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoint_0002.pth.tar", "checkpoint_step_00000006.pth.tar",
                                             "checkpoint_step_00000005.pth.tar", "checkpoint_0001.pth.tar"}));
  EXPECT_EQ(steps, (std::vector<int64_t>{6, 6, 5, 3}));
  EXPECT_FALSE(newest_checkpoint(d.string(), 3).has_value()) << "none of them loads";
  EXPECT_TRUE(list_run_checkpoints((d / "absent").string(), 3).empty());

  remove_older_step_checkpoints(d.string(), 6);
  EXPECT_FALSE(fs::exists(d / "checkpoint_step_00000005.pth.tar"));
  EXPECT_TRUE(fs::exists(d / "checkpoint_step_00000006.pth.tar"));
  EXPECT_TRUE(fs::exists(d / "checkpoint_0001.pth.tar")) << "epochs' checkpoints stay";
  fs::remove_all(d);
}

TEST(ResumePoint, TheJobsRunFolderIsNamedAfterTorchrunsRunId) {
  EXPECT_EQ(job_run_dir("results", "cifar10", 512, "FlatCLR", "slurm-1234"),
            "results/cifar10/512_FlatCLR/torchrun-slurm-1234");
  EXPECT_EQ(job_run_dir("r", "c", 64, "SimCLR", "a/b c"), "r/c/64_SimCLR/torchrun-a_b_c");
}

}  // namespace
}  // namespace flatclr::train
