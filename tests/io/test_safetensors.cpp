// io/safetensors: the `safetensors` Python package (the format's own reader) reads what we write: names,
// dtypes, shapes, values and the metadata; repeated names are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"
#include "flatclr/io/safetensors.h"

namespace fs = std::filesystem;

TEST(Safetensors, ThePythonPackageReadsTensorsAndMetadata) {
  const auto dir = fs::temp_directory_path() / ("flatclr_safetensors_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto w = torch::arange(24, torch::kFloat).reshape({2, 3, 4}).div(7.0);
  const auto counts = torch::tensor(std::vector<int64_t>{5, -2, int64_t{1} << 40}, torch::kLong);
  const auto half = torch::tensor({0.5, -1.5, 3.0}, torch::kFloat).to(torch::kBFloat16);
  const auto d = torch::tensor({1e-300, 2.5}, torch::kDouble);
  const auto t = torch::arange(6, torch::kFloat).reshape({2, 3}).t();  // not contiguous
  const flatclr::io::NamedTensors tensors{
      {"layer.weight", w}, {"counts", counts}, {"bf", half}, {"d", d}, {"t", t}};
  const std::string bytes = flatclr::io::safetensors_bytes(
      tensors, {{"architecture", "res18"}, {"note", "quotes \" and \\ survive"}});
  EXPECT_EQ((bytes.size() - w.nbytes() - counts.nbytes() - half.nbytes() - d.nbytes() - t.nbytes()) % 8, 0u);
  const auto file = dir / "x.safetensors";
  flatclr::core::write_file_atomic(file.string(), bytes);
  const std::string code =
      "import json, sys, torch\n"
      "from safetensors import safe_open\n"
      "from safetensors.torch import load_file\n"
      "t = load_file(sys.argv[1])\n"
      "with safe_open(sys.argv[1], \"pt\") as f: meta = f.metadata()\n"
      "print(json.dumps({\"meta\": meta, \"tensors\": {k: {\"dtype\": str(v.dtype), \"shape\": list(v.shape),"
      " \"values\": v.double().flatten().tolist()} for k, v in t.items()}}))";
  const auto out_file = dir / "py.txt";
  const int rc = std::system((flatclr::testing::python() + " -c '" + code + "' " + file.string() + " > " +
                              out_file.string() + " 2>&1")
                                 .c_str());
  std::ifstream in(out_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(rc, 0) << text;
  const auto out = nlohmann::json::parse(text);
  EXPECT_EQ(out["meta"]["architecture"], "res18");
  EXPECT_EQ(out["meta"]["note"], "quotes \" and \\ survive");
  const auto& ts = out["tensors"];
  ASSERT_EQ(ts.size(), 5u);
  auto expect_values = [&](const std::string& name, const at::Tensor& ref, const std::string& dtype) {
    EXPECT_EQ(ts[name]["dtype"], dtype) << name;
    EXPECT_EQ(ts[name]["shape"].get<std::vector<int64_t>>(), ref.sizes().vec()) << name;
    const auto flat = ref.to(torch::kDouble).contiguous().flatten();
    ASSERT_EQ(ts[name]["values"].size(), static_cast<size_t>(flat.numel())) << name;
    for (int64_t i = 0; i < flat.numel(); ++i)
      EXPECT_EQ(ts[name]["values"][i].get<double>(), flat[i].item<double>()) << name << "[" << i << "]";
  };
  expect_values("layer.weight", w, "torch.float32");
  expect_values("counts", counts, "torch.int64");
  expect_values("bf", half, "torch.bfloat16");
  expect_values("d", d, "torch.float64");
  expect_values("t", t, "torch.float32");
  fs::remove_all(dir);
}

TEST(Safetensors, RepeatedOrReservedNamesAreRefused) {
  const flatclr::io::NamedTensors twice{{"a", torch::ones(1)}, {"a", torch::ones(1)}};
  EXPECT_THROW(flatclr::io::safetensors_bytes(twice, {}), flatclr::UserError);
  const flatclr::io::NamedTensors reserved{{"__metadata__", torch::ones(1)}};
  EXPECT_THROW(flatclr::io::safetensors_bytes(reserved, {}), flatclr::UserError);
}
