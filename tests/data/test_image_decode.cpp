// JPEG/PNG decoding against PIL (values from scripts/gen/gen_image_decode.py: Image.open(f).convert("RGB"),
// the loader of torchvision's ImageFolder), and bad files reported with their path.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/data/image_decode.h"

namespace {

using namespace flatclr::data;
using nlohmann::json;

const json& reference() {
  static const json j = [] {
    std::ifstream f(flatclr::testing::source_path("tests/data/data/decode_reference.json"));
    if (!f.good()) throw std::runtime_error("missing tests/data/data/decode_reference.json");
    return json::parse(f);
  }();
  return j;
}

std::string image_path(const std::string& name) {
  return flatclr::testing::source_path("tests/data/data/images/" + name);
}

// Every fixture decodes to exactly PIL's pixels (PIL reads JPEGs with the same libjpeg and default settings,
// and its mode conversions are integer formulas reproduced here).
TEST(ImageDecode, EveryFormatEqualsPilExactly) {
  if (!have_jpeg() || !have_png()) GTEST_SKIP() << "built without libjpeg or libpng";
  int checked = 0;
  for (const auto& [name, r] : reference()["images"].items()) {
    SCOPED_TRACE(name + " (PIL mode " + r["mode"].get<std::string>() + ")");
    const auto img = decode_image_file(image_path(name));
    ASSERT_EQ(img.height, r["height"].get<int64_t>());
    ASSERT_EQ(img.width, r["width"].get<int64_t>());
    const auto expected = r["hwc"].get<std::vector<int>>();
    ASSERT_EQ(img.pixels.size(), expected.size());
    int max_diff = 0;
    for (size_t i = 0; i < expected.size(); ++i)
      max_diff = std::max(max_diff, std::abs(img.pixels[i] - expected[i]));
    EXPECT_EQ(max_diff, 0);
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

TEST(ImageDecode, BadFilesAreUserErrorsNamingThePath) {
  for (const auto& name : reference()["bad"]) {
    const auto path = image_path(name.get<std::string>());
    try {
      decode_image_file(path);
      ADD_FAILURE() << path << " decoded";
    } catch (const flatclr::UserError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  try {
    decode_image_file(image_path("does_not_exist.png"));
    ADD_FAILURE() << "missing file decoded";
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist.png"), std::string::npos) << e.what();
  }
}

TEST(ImageDecode, TruncatedJpegMessageSaysWhy) {
  if (!have_jpeg()) GTEST_SKIP() << "built without libjpeg";
  try {
    decode_image_file(image_path("truncated.jpg"));
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("Premature end"), std::string::npos) << e.what();
  }
}

TEST(ImageDecode, EmptyBufferIsAnError) {
  EXPECT_THROW(decode_image(nullptr, 0, "empty"), flatclr::UserError);
}

}  // namespace
