// io/npy_map: a memory-mapped .npy gives back what NpyWriter wrote (float16 included) and what numpy.save
// wrote (numpy is the reference, versions 1.0 and 2.0 of the format); a truncated or foreign file is an
// error naming it; the mapping outlives the file's removal.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/io/npy.h"
#include "flatclr/io/npy_map.h"

namespace fs = std::filesystem;
using flatclr::io::map_npy;
using flatclr::io::NpyWriter;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("flatclr_npy_map_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

std::string error_of(const std::string& path) {
  try {
    map_npy(path);
  } catch (const flatclr::UserError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(NpyMap, ReadsWhatNpyWriterWrote) {
  TempDir t;
  torch::manual_seed(3);
  for (auto dtype : {at::kHalf, at::kFloat, at::kLong}) {
    const auto rows = (torch::randn({7, 5}) * 100).to(dtype);
    const std::string path = (t.path / "a.npy").string();
    NpyWriter w(path, dtype, {5});
    w.append(rows.slice(0, 0, 3));
    w.append(rows.slice(0, 3, 7));
    w.finish();
    const auto mapped = map_npy(path);
    EXPECT_EQ(mapped.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(mapped, rows));
    fs::remove(path);  // the mapping lives on
    EXPECT_TRUE(torch::equal(mapped.index_select(0, torch::tensor({6, 0})),
                             rows.index_select(0, torch::tensor({6, 0}))));
  }
}

TEST(NpyMap, ReadsWhatNumpyWroteAndRefusesBadFiles) {
  TempDir t;
  const std::string code =
      "import sys, numpy as np\n"
      "a = (np.arange(24, dtype=np.float32).reshape(4, 6) / 8).astype(np.float16)\n"
      "np.save(sys.argv[1], a)\n"
      "np.lib.format.write_array(open(sys.argv[2], \"wb\"), np.arange(5, dtype=np.int32), version=(2, 0))\n";
  const std::string cmd = flatclr::testing::python() + " -c '" + code + "' " + (t.path / "v1.npy").string() +
                          " " + (t.path / "v2.npy").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto v1 = map_npy((t.path / "v1.npy").string());
  EXPECT_TRUE(torch::equal(v1, (torch::arange(24, torch::kFloat).reshape({4, 6}) / 8).to(at::kHalf)));
  EXPECT_TRUE(torch::equal(map_npy((t.path / "v2.npy").string()), torch::arange(5, torch::kInt)));

  // Truncated: shorter than the header says.
  fs::copy_file(t.path / "v1.npy", t.path / "cut.npy");
  fs::resize_file(t.path / "cut.npy", fs::file_size(t.path / "cut.npy") - 2);
  const std::string cut = (t.path / "cut.npy").string();
  EXPECT_NE(error_of(cut).find(cut + ": " + std::to_string(fs::file_size(cut)) + " bytes, but its header"),
            std::string::npos)
      << error_of(cut);
  std::ofstream(t.path / "text.npy") << "hello, not an array";
  EXPECT_NE(error_of((t.path / "text.npy").string()).find("not a .npy file"), std::string::npos);
  EXPECT_NE(error_of((t.path / "missing.npy").string()).find("cannot open"), std::string::npos);
}
