// io/torch_save: typed LibTorch containers come back as plain values through our torch.save reader (PyTorch's
// weights-only load of the same bytes is tested in test_checkpoint.cpp); values a weights-only load cannot
// hold, and structures nested too deep, are refused with an error naming what.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "flatclr/core/error.h"
#include "flatclr/io/torch_load.h"
#include "flatclr/io/torch_save.h"

using namespace flatclr;
namespace fs = std::filesystem;

TEST(TorchSave, TypedContainersRoundTripAsPlainValues) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("ints", c10::List<int64_t>({1, 2, 3}));
  d.insert("doubles", c10::List<double>({0.5, -1.25}));
  d.insert("flag", true);
  d.insert("name", std::string("res18"));
  d.insert("none", c10::IValue());
  d.insert("tensor", torch::arange(6, torch::kFloat).reshape({2, 3}).t());  // not contiguous
  const auto path =
      (fs::temp_directory_path() / ("flatclr_torch_save_" + std::to_string(::getpid()) + ".pt")).string();
  const auto bytes = io::torch_save(c10::IValue(d));
  // No torch.jit._pickle type tags or list builders: PyTorch's weights-only unpickler refuses those globals.
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()).find("torch.jit"), std::string::npos);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const auto back = io::torch_load(path).toGenericDict();
  EXPECT_EQ(back.at("ints").toListRef().size(), 3u);
  EXPECT_EQ(back.at("ints").toListRef()[2].toInt(), 3);
  EXPECT_EQ(back.at("doubles").toListRef()[1].toDouble(), -1.25);
  EXPECT_TRUE(back.at("flag").toBool());
  EXPECT_EQ(back.at("name").toStringRef(), "res18");
  EXPECT_TRUE(back.at("none").isNone());
  EXPECT_TRUE(
      torch::equal(back.at("tensor").toTensor(), torch::arange(6, torch::kFloat).reshape({2, 3}).t()));
  fs::remove(path);
}

TEST(TorchSave, RefusesWhatAWeightsOnlyLoadCannotHoldAndDeepNesting) {
  try {
    io::torch_save(c10::IValue(c10::Device(c10::kCPU)));
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("Device"), std::string::npos) << e.what();
  }
  c10::IValue nested = int64_t{1};
  for (int i = 0; i < 600; ++i) {
    c10::impl::GenericList l(c10::AnyType::get());
    l.push_back(nested);
    nested = l;
  }
  try {
    io::torch_save(nested);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper"), std::string::npos) << e.what();
  }
}
