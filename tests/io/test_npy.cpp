// io/npy: what NpyWriter writes is what numpy.load reads (numpy itself is the reference), the header has the
// format's layout (magic, version 1.0, data at a multiple of 64 bytes), and an unfinished writer leaves no
// file behind.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "flatclr/io/npy.h"

namespace fs = std::filesystem;
using flatclr::io::NpyWriter;

namespace {

fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("flatclr_npy_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::string run_python(const std::string& code, const std::string& args) {
  const auto out = temp_dir() / "py.txt";
  const std::string cmd =
      flatclr::testing::python() + " -c '" + code + "' " + args + " > " + out.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << text;
  return text;
}

}  // namespace

TEST(Npy, HeaderHasTheFormatsLayout) {
  const std::string h = flatclr::io::npy_header(at::kFloat, {3, 4});
  ASSERT_EQ(h.size(), flatclr::io::kNpyHeaderBytes);
  EXPECT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(h[8]) + 256 * static_cast<unsigned char>(h[9]), 118);
  EXPECT_EQ(h.back(), '\n');
  EXPECT_NE(h.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"), std::string::npos) << h;
  EXPECT_NE(flatclr::io::npy_header(at::kLong, {7}).find("'shape': (7,), }"), std::string::npos);
  EXPECT_EQ(flatclr::io::kNpyHeaderBytes % 64, 0u);
}

TEST(Npy, NumpyReadsStreamedRowsAndLabels) {
  const auto dir = temp_dir();
  const auto x = torch::arange(15, torch::kDouble).reshape({5, 3}).mul(0.25).sub(1.0);  // exact in float32
  const auto y = torch::tensor({3, 1, 4, 1, 5}, torch::kLong);
  {
    NpyWriter features((dir / "f.npy").string(), at::kFloat, {3});
    NpyWriter labels((dir / "l.npy").string(), at::kLong, {});
    features.append(x.slice(0, 0, 2));  // converted to float32
    features.append(x.slice(0, 2, 5));
    labels.append(y.slice(0, 0, 4));
    labels.append(y.slice(0, 4, 5));
    EXPECT_EQ(features.rows(), 5);
    EXPECT_FALSE(fs::exists(dir / "f.npy"));  // not before finish()
    features.finish();
    labels.finish();
  }
  const std::string code =
      "import json, sys, numpy as np\n"
      "f = np.load(sys.argv[1]); l = np.load(sys.argv[2])\n"
      "print(json.dumps({\"fdtype\": str(f.dtype), \"fshape\": list(f.shape), \"f\": f.tolist(),"
      " \"ldtype\": str(l.dtype), \"l\": l.tolist()}))";
  const auto out =
      nlohmann::json::parse(run_python(code, (dir / "f.npy").string() + " " + (dir / "l.npy").string()));
  EXPECT_EQ(out["fdtype"], "float32");
  EXPECT_EQ(out["fshape"], nlohmann::json::array({5, 3}));
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(out["f"][i][j].get<double>(), x[i][j].item<double>());
  }
  EXPECT_EQ(out["ldtype"], "int64");
  EXPECT_EQ(out["l"], nlohmann::json::array({3, 1, 4, 1, 5}));
  fs::remove_all(dir);
}

TEST(Npy, AnUnfinishedWriterLeavesNoFile) {
  const auto dir = temp_dir() / "unfinished";
  fs::create_directories(dir);
  {
    NpyWriter w((dir / "f.npy").string(), at::kFloat, {2});
    w.append(torch::ones({4, 2}));
  }  // an exception during a pass ends here
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}
