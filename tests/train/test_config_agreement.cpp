// The fields every process of a run must share: those that decide the training differ -> named with both
// values; paths, threads and logging may differ between hosts. (Across processes: test_dist_cli.cpp's
// MismatchedFlagsBetweenRanksAreOneClearError.)
#include <gtest/gtest.h>

#include "flatclr/train/config_agreement.h"

namespace flatclr::train {
namespace {

TEST(ConfigAgreement, NamesTheTrainingFieldsThatDifferAndOnlyThose) {
  PretrainConfig a;
  a.resolve();
  PretrainConfig b = a;
  b.data.root = "/elsewhere";
  b.save_dir = "/scratch";
  b.run.threads = a.run.threads + 3;
  b.log_every_n_steps = 1;
  EXPECT_TRUE(trajectory_differences(a.to_json(), "here", b.to_json(), "there").empty());
  b.batch_size = 256;
  b.model.width_multiplier = 2;
  b.run.seed = 9;
  const auto d = trajectory_differences(a.to_json(), "here", b.to_json(), "there");
  EXPECT_EQ(d, (std::vector<std::string>{"`width_multiplier`=1.0 here, 2.0 there",
                                         "`batch_size`=512 here, 256 there",
                                         "`seed`=" + std::to_string(a.run.seed) + " here, 9 there"}));
  EXPECT_EQ(trajectory_differences(a.to_json(), "here", b.to_json(), "there", {"batch_size", "seed"}).size(),
            1u);
  EXPECT_EQ(trajectory_differences("not json", "here", b.to_json(), "there").size(), 1u);
}

}  // namespace
}  // namespace flatclr::train
