#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"
#include "flatclr/core/rng.h"

namespace fs = std::filesystem;
using namespace flatclr;

TEST(AtomicFile, ReplacesContentAndLeavesNoTemporaryFile) {
  auto dir = fs::temp_directory_path() / ("flatclr_atomic_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto path = (dir / "sub" / "x.txt").string();
  core::write_file_atomic(path, std::string("first"));
  core::write_file_atomic(path, std::string("second"));
  auto bytes = core::read_file(path);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "second");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir / "sub")) n += e.is_regular_file();
  EXPECT_EQ(n, 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, UnwritableDestinationIsAUserErrorNamingThePath) {
  try {
    core::write_file_atomic("/proc/flatclr_no_such_dir/x", std::string("x"));
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/flatclr_no_such_dir/x"), std::string::npos) << e.what();
  }
  EXPECT_THROW(core::read_file("/nonexistent/flatclr"), UserError);
}

TEST(Rng, UniformMomentsAndKeyIndependence) {
  core::Rng r(core::hash_key({1, 2, 3}));
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sq += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(sq / n - (sum / n) * (sum / n), 1.0 / 12, 0.002);
  // below(n) is uniform over [0, n).
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) counts[r.below(7)]++;
  for (int c : counts) EXPECT_NEAR(c, 10000, 5 * std::sqrt(10000.0));
  // Order of the key matters; same key, same stream.
  EXPECT_NE(core::hash_key({1, 2}), core::hash_key({2, 1}));
  EXPECT_EQ(core::Rng(core::hash_key({5})).next_u64(), core::Rng(core::hash_key({5})).next_u64());
}

TEST(AtomicFileWriter, PiecesAndAHeaderRewriteAppearAtOnceOnCommit) {
  const auto dir = fs::temp_directory_path() / ("flatclr_writer_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto path = (dir / "out.bin").string();
  {
    flatclr::core::AtomicFileWriter w(path);  // creates the folder
    w.write("HDR?");
    w.write("body");
    w.write_at(0, "HDR!");
    EXPECT_EQ(w.size(), 8u);
    EXPECT_FALSE(fs::exists(path));
    w.commit();
  }
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "HDR!body");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  // Abandoned (e.g. by an exception): the old file stays as it was, and no temporary file is left.
  {
    flatclr::core::AtomicFileWriter w(path);
    w.write("half");
  }
  std::ifstream again(path, std::ios::binary);
  std::string after((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, "HDR!body");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}
