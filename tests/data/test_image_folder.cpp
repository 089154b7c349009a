// Image-folder scanning (torchvision ImageFolder's class order and file selection), split lookup, in-memory
// loading with the bad-image policies, and Resize + CenterCrop.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/data/image_decode.h"
#include "flatclr/data/image_folder.h"

namespace {

namespace fs = std::filesystem;
using namespace flatclr::data;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("flatclr_test_folder_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

void put(const fs::path& dir, const std::string& fixture, const std::string& as) {
  fs::create_directories(dir);
  fs::copy_file(flatclr::testing::source_path("tests/data/data/images/" + fixture), dir / as,
                fs::copy_options::overwrite_existing);
}

// <root>/ds/train/{b_cls, a_cls, c_cls}: classes sort by name, files by path, recursively; other files
// ignored.
void make_dataset(const fs::path& root) {
  const auto train = root / "ds" / "train";
  put(train / "b_cls", "rgb.jpg", "2.jpg");
  put(train / "b_cls", "rgb.png", "1.PNG");
  put(train / "a_cls", "gray.jpg", "x.jpeg");
  put(train / "a_cls" / "sub", "cmyk.jpg", "y.jpg");
  put(train / "c_cls", "palette.png", "z.png");
  std::ofstream(train / "c_cls" / "notes.txt") << "not an image\n";
  put(root / "ds" / "test" / "a_cls", "rgb.jpg", "t.jpg");
}

TEST(ImageFolder, ScanFollowsImageFolderOrder) {
  TempDir t;
  make_dataset(t.path);
  const auto index = scan_image_folder(image_folder_split_dir(t.path.string(), "ds", true));
  ASSERT_EQ(index.class_names, (std::vector<std::string>{"a_cls", "b_cls", "c_cls"}));
  ASSERT_EQ(index.size(), 5);
  EXPECT_EQ(index.labels, (std::vector<int64_t>{0, 0, 1, 1, 2}));
  EXPECT_EQ(fs::path(index.paths[0]).filename(), "x.jpeg");
  EXPECT_EQ(fs::path(index.paths[1]).filename(), "y.jpg");  // a_cls/sub/y.jpg sorts after a_cls/x.jpeg
  EXPECT_EQ(fs::path(index.paths[2]).filename(), "1.PNG");
  EXPECT_EQ(fs::path(index.paths[3]).filename(), "2.jpg");
  EXPECT_TRUE(is_image_folder_dataset(t.path.string(), "ds"));
  EXPECT_FALSE(is_image_folder_dataset(t.path.string(), "other"));
}

TEST(ImageFolder, HeldOutSplitIsValElseTest) {
  TempDir t;
  make_dataset(t.path);
  EXPECT_EQ(fs::path(image_folder_split_dir(t.path.string(), "ds", false)).filename(), "test");
  fs::create_directories(t.path / "ds" / "val" / "a_cls");
  EXPECT_EQ(fs::path(image_folder_split_dir(t.path.string(), "ds", false)).filename(), "val");
}

TEST(ImageFolder, MissingFoldersAreErrorsNamingThem) {
  TempDir t;
  try {
    image_folder_split_dir(t.path.string(), "nope", true);
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find((t.path / "nope" / "train").string()), std::string::npos)
        << e.what();
  }
  fs::create_directories(t.path / "ds" / "train");
  try {
    image_folder_split_dir(t.path.string(), "ds", false);
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("val"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test"), std::string::npos) << e.what();
  }
  EXPECT_THROW(scan_image_folder((t.path / "ds" / "train").string()), flatclr::UserError);  // no classes
  fs::create_directories(t.path / "ds" / "train" / "empty_cls");
  try {
    scan_image_folder((t.path / "ds" / "train").string());
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("empty_cls"), std::string::npos) << e.what();
  }
}

TEST(ImageFolder, LoadInMemorySkipsOrStopsOnBadFiles) {
  if (!have_jpeg() || !have_png()) GTEST_SKIP() << "built without libjpeg or libpng";
  TempDir t;
  const auto train = t.path / "ds" / "train";
  put(train / "a", "rgb.jpg", "0.jpg");
  put(train / "a", "truncated.jpg", "1.jpg");
  put(train / "b", "rgb.png", "0.png");
  put(train / "b", "rgba.png", "1.png");
  const auto index = scan_image_folder(train.string());
  FolderLoadOptions o;
  o.threads = 2;
  BadImages skip;
  const auto ds = load_image_folder(index, "ds", o, skip);
  EXPECT_EQ(skip.count(), 1);
  ASSERT_EQ(ds.images.sizes(), (std::vector<int64_t>{3, 3, 9, 13}));
  EXPECT_TRUE(torch::equal(ds.labels, torch::tensor(std::vector<int64_t>{0, 1, 1})));
  EXPECT_EQ(ds.num_classes, 2);
  // Pixels are the decoder's, HWC -> CHW.
  const auto d = decode_image_file((train / "b" / "0.png").string());
  const auto hwc = torch::from_blob(const_cast<uint8_t*>(d.pixels.data()), {9, 13, 3}, torch::kByte);
  EXPECT_TRUE(torch::equal(ds.images[1], hwc.permute({2, 0, 1})));

  BadImages stop(true);
  try {
    load_image_folder(index, "ds", o, stop);
    FAIL();
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find((train / "a" / "1.jpg").string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("`data.bad_images`"), std::string::npos) << e.what();
  }
  using flatclr::data::BadImagesPolicy;
  EXPECT_EQ(flatclr::core::parse_choice<BadImagesPolicy>("skip"), BadImagesPolicy::kSkip);
  EXPECT_EQ(flatclr::core::parse_choice<BadImagesPolicy>("stop"), BadImagesPolicy::kStop);
  EXPECT_FALSE(flatclr::core::parse_choice<BadImagesPolicy>("ignore").has_value());
}

TEST(ImageFolder, ResizeCenterCropFollowsTorchvisionGeometry) {
  // 40x60 (h x w): Resize(20) -> 20x30, CenterCrop(16) -> rows 2..17, cols int(round(7)) = 7..22.
  auto img = torch::arange(40 * 60 * 3, torch::kLong).remainder(251).to(torch::kByte).view({3, 40, 60});
  const auto out = resize_center_crop(img, 20, 16);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 16, 16}));
  // No resize needed (shorter side already 40): a pure central crop.
  const auto crop = resize_center_crop(img, 40, 30);
  EXPECT_TRUE(torch::equal(crop, img.narrow(1, 5, 30).narrow(2, 15, 30)));
  // A constant image stays constant through the antialiased bicubic resize.
  const auto flat = torch::full({3, 50, 70}, 77, torch::kByte);
  EXPECT_TRUE(torch::equal(resize_center_crop(flat, 24, 24), torch::full({3, 24, 24}, 77, torch::kByte)));
}

}  // namespace
