// JPEG/PNG decoding against PIL (values from scripts/gen/gen_image_decode.py: Image.open(f).convert("RGB"),
// the loader of torchvision's ImageFolder), and bad files reported with their path.
#include <gtest/gtest.h>

#include <chrono>
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

// Decoding `file` fails within a second with a UserError naming the file and saying each of `says`.
void expect_refused_quickly(const char* file, std::initializer_list<const char*> says) {
  const auto start = std::chrono::steady_clock::now();
  try {
    decode_image_file(image_path(file));
    ADD_FAILURE() << file << " decoded";
  } catch (const flatclr::UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(image_path(file)), std::string::npos) << msg;
    for (const char* s : says) EXPECT_NE(msg.find(s), std::string::npos) << msg;
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0) << file;
}

// Regression (fuzz_image_decode): a 177-byte JPEG whose header claims 64525 x 12791 pixels took 53 s and 2.5
// GB to decode. Both formats now refuse a declared size above PIL's decompression-bomb limit before decoding
// (bomb.png: a valid 68-byte PNG claiming 20000 x 20000).
TEST(ImageDecode, DecompressionBombsAreRefusedBeforeDecoding) {
  struct Case {
    const char* file;
    bool available;
    const char* size;
  };
  for (const auto& c : {Case{"bomb.jpg", have_jpeg(), "64525 x 12791 = 825339275 pixels"},
                        Case{"bomb.png", have_png(), "20000 x 20000 = 400000000 pixels"}}) {
    if (c.available) expect_refused_quickly(c.file, {c.size, "more than the 178956970 that flatclr decodes"});
  }
}

// Regression (fuzz_image_decode, timeouts): 151- and 165-byte JPEGs claiming 65293 x 2304 and 64525 x 247
// pixels, under the pixel limit, which libjpeg "decodes" by filling the missing data with gray: 1.5 s for
// PIL, over a minute under the fuzzer's sanitizers. Huffman data needs at least one bit per 8x8 block, so
// such a file is refused as truncated or corrupt before decoding.
TEST(ImageDecode, JpegTooSmallForTheBlocksItDeclaresIsRefused) {
  if (!have_jpeg()) GTEST_SKIP() << "built without libjpeg";
  struct Case {
    const char* file;
    const char* says;
  };
  for (const auto& c :
       {Case{"thin.jpg", "the file's 151 bytes cannot hold the 65293 x 2304 image it declares"},
        Case{"thin_cmyk.jpg", "the file's 165 bytes cannot hold the 64525 x 247 image"}}) {
    expect_refused_quickly(c.file, {c.says, "truncated or corrupt"});
  }
  // Every real JPEG of the fixtures still decodes (the bound is far below any real compression ratio).
  for (const char* f : {"rgb.jpg", "gray.jpg", "cmyk.jpg", "rgb444.jpg"})
    EXPECT_NO_THROW(decode_image_file(image_path(f))) << f;
}

TEST(ImageDecode, EmptyBufferIsAnError) {
  EXPECT_THROW(decode_image(nullptr, 0, "empty"), flatclr::UserError);
}

}  // namespace
