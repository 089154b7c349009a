// Labelled splits streamed from an image folder give the bytes the in-memory load gives (ImageNet-sized
// preparation, small folders as decoded, the transfer resize, subsets), batch after batch in any order and
// for any worker count; bad files are left out of their batch (or stop the pass, naming the file); the
// DCT-scaled decode (OpenOptions::jpeg_draft) reaches both paths.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/data/image_decode.h"
#include "flatclr/data/open_dataset.h"
#include "flatclr/data/split_loader.h"

namespace {

namespace fs = std::filesystem;
using namespace flatclr::data;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("flatclr_test_split_loader_" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void put(const fs::path& dir, const std::string& fixture, const std::string& as) {
  fs::create_directories(dir);
  fs::copy_file(flatclr::testing::source_path("tests/data/data/images/" + fixture), dir / as);
}

// <root>/<name>/{train,val}/{a,b}/...: 13 x 9 images; train/a/1.jpg is truncated.
void make_folder(const fs::path& root, const std::string& name) {
  const fs::path d = root / name;
  put(d / "train/a", "rgb.jpg", "0.jpg");
  put(d / "train/a", "truncated.jpg", "1.jpg");
  put(d / "train/a", "gray.jpg", "2.jpg");
  put(d / "train/b", "rgb.png", "3.png");
  put(d / "train/b", "palette.png", "4.png");
  put(d / "train/b", "cmyk.jpg", "5.jpg");
  put(d / "val/a", "rgb444.jpg", "0.jpg");
  put(d / "val/b", "rgba.png", "1.png");
}

// Every batch of a pass over `order`, rows and their split indices concatenated.
std::pair<at::Tensor, std::vector<int64_t>> pass(const std::shared_ptr<const LabelledSplit>& split,
                                                 const std::vector<int64_t>& order, int64_t batch,
                                                 int workers, at::Tensor* labels = nullptr) {
  SplitLoaderOptions o;
  o.workers = workers;
  o.prefetch = 2;
  SplitLoader loader(split, o);
  loader.start(order, batch);
  std::vector<at::Tensor> images, label_parts;
  std::vector<int64_t> indices;
  SplitBatch b;
  while (loader.next(b)) {
    EXPECT_EQ(b.images.size(0), static_cast<int64_t>(b.indices.size()));
    images.push_back(b.images);
    label_parts.push_back(b.labels);
    indices.insert(indices.end(), b.indices.begin(), b.indices.end());
  }
  if (labels) *labels = torch::cat(label_parts);
  return {torch::cat(images), indices};
}

std::shared_ptr<const LabelledSplit> open_split(const fs::path& root, const std::string& name, bool train,
                                                Streaming streaming, bool stop = false) {
  OpenOptions o;
  o.download = false;
  o.streaming = streaming;
  o.threads = 2;
  return std::make_shared<const LabelledSplit>(
      open_labelled_split(root.string(), name, train, o, std::make_shared<BadImages>(stop)));
}

}  // namespace

TEST(SplitLoader, StreamedSplitsGiveTheInMemoryBytes) {
  if (!have_jpeg() || !have_png()) GTEST_SKIP() << "built without libjpeg or libpng";
  TempDir t;
  // "imagenet" is ImageNet-sized whatever its images' size (Resize 256 + CenterCrop 224); "tiny" is small.
  for (const std::string name : {"imagenet", "tiny"}) {
    SCOPED_TRACE(name);
    make_folder(t.path, name);
    const auto memory = open_split(t.path, name, true, Streaming::kOff);
    const auto streamed = open_split(t.path, name, true, Streaming::kOn);
    ASSERT_FALSE(memory->streamed());
    ASSERT_TRUE(streamed->streamed());
    EXPECT_EQ(memory->size(), 5);    // the truncated file is left out of the load ...
    EXPECT_EQ(streamed->size(), 6);  // ... and out of the streamed batches
    EXPECT_EQ(streamed->height(), name == "tiny" ? 9 : 224);
    EXPECT_EQ(streamed->width(), name == "tiny" ? 13 : 224);
    EXPECT_EQ(streamed->class_names(), memory->class_names());
    for (int workers : {0, 3}) {
      at::Tensor labels;
      const auto [images, indices] = pass(streamed, {0, 1, 2, 3, 4, 5}, 4, workers, &labels);
      EXPECT_EQ(indices, (std::vector<int64_t>{0, 2, 3, 4, 5}));
      EXPECT_TRUE(torch::equal(images, memory->images())) << workers << " workers";
      EXPECT_TRUE(torch::equal(labels, memory->labels()));
    }
    EXPECT_EQ(streamed->bad()->count(), 1);
    // A shuffled order, short last batch: the rows follow the order.
    const auto [shuffled, idx] = pass(streamed, {5, 3, 0, 4}, 3, 2);
    EXPECT_EQ(idx, (std::vector<int64_t>{5, 3, 0, 4}));
    EXPECT_TRUE(torch::equal(shuffled, memory->images().index_select(0, torch::tensor({4, 2, 0, 3}))));
    // The in-memory split through the same loader: slices or gathers of its images.
    const auto [mem_pass, mem_idx] = pass(memory, {4, 2, 0, 3}, 3, 2);
    EXPECT_TRUE(torch::equal(mem_pass, shuffled));
    EXPECT_EQ(mem_idx, (std::vector<int64_t>{4, 2, 0, 3}));
    // Transfer's resize and a subset, the same on both sides.
    const auto small_mem = std::make_shared<const LabelledSplit>(memory->subset({0, 2, 3}).resized(32, 2));
    const auto small_str = std::make_shared<const LabelledSplit>(streamed->subset({0, 3, 4}).resized(32, 2));
    EXPECT_EQ(small_str->height(), 32);
    EXPECT_TRUE(torch::equal(pass(small_str, {0, 1, 2}, 2, 2).first, small_mem->images()));
    EXPECT_TRUE(torch::equal(small_str->labels(), small_mem->labels()));
    // The held-out split.
    const auto val = open_split(t.path, name, false, Streaming::kOn);
    EXPECT_TRUE(torch::equal(pass(val, {0, 1}, 8, 1).first,
                             open_split(t.path, name, false, Streaming::kOff)->images()));
  }
}

TEST(SplitLoader, AutoStreamsImageNetSizedFoldersAndStopNamesTheBadFile) {
  if (!have_jpeg() || !have_png()) GTEST_SKIP() << "built without libjpeg or libpng";
  TempDir t;
  make_folder(t.path, "imagenet");
  make_folder(t.path, "tiny");
  EXPECT_TRUE(open_split(t.path, "imagenet", true, Streaming::kAuto)->streamed());
  EXPECT_FALSE(open_split(t.path, "tiny", true, Streaming::kAuto)->streamed());
  const auto stop =
      open_split(t.path, "imagenet", false, Streaming::kOn, /*stop=*/true);  // val has no bad file
  EXPECT_EQ(pass(stop, {0, 1}, 2, 1).second.size(), 2u);
  const auto train_stop = [&] {
    OpenOptions o;
    o.streaming = Streaming::kOn;
    // The split opens (the first image decodes); the pass stops at 1.jpg.
    return std::make_shared<const LabelledSplit>(open_labelled_split(
        t.path.string(), "imagenet", true, o, std::make_shared<BadImages>(/*stop=*/true)));
  }();
  try {
    pass(train_stop, {0, 1, 2}, 3, 2);
    FAIL() << "no error";
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("1.jpg"), std::string::npos) << e.what();
  }
}

// --jpeg_draft reaches both paths of an ImageNet-sized folder: the streamed split and the in-memory load give
// the same DCT-scaled crops, which are not the full decode's but within its tolerance (image_decode.h).
TEST(SplitLoader, JpegDraftGivesTheSameCropsStreamedAndInMemory) {
  if (!have_jpeg()) GTEST_SKIP() << "built without libjpeg";
  TempDir t;
  for (const char* dir : {"train/a", "train/b", "val/a", "val/b"})
    fs::create_directories(t.path / "big" / dir);
  // A 1200x900 photo-like JPEG (an upscaled random image plus mild noise): decoded at 1/2 with the option.
  const std::string make =
      flatclr::testing::python() +
      " -c \"import sys, numpy as np; from PIL import Image\n"
      "rng = np.random.default_rng(1)\n"
      "small = Image.fromarray(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8))\n"
      "img = np.asarray(small.resize((1200, 900), Image.BICUBIC)).astype(float) + rng.normal(0, 6, (900, "
      "1200, 3))\n"
      "Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90)\" " +
      (t.path / "big/train/a/0.jpg").string();
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  for (const char* dir : {"train/b", "val/a", "val/b"})
    fs::copy_file(t.path / "big/train/a/0.jpg", t.path / "big" / dir / "0.jpg");
  auto crops = [&](Streaming streaming, bool draft) {
    OpenOptions o;
    o.download = false;
    o.streaming = streaming;
    o.jpeg_draft = draft;
    const auto split = std::make_shared<const LabelledSplit>(
        open_labelled_split(t.path.string(), "big", true, o, std::make_shared<BadImages>(true)));
    if (split->streamed()) return pass(split, {0, 1}, 2, 1).first;
    return split->images();
  };
  const auto full = crops(Streaming::kOn, false);
  const auto draft = crops(Streaming::kOn, true);
  ASSERT_EQ(draft.sizes(), full.sizes());
  EXPECT_TRUE(torch::equal(draft, crops(Streaming::kOff, true)));
  EXPECT_TRUE(torch::equal(full, crops(Streaming::kOff, false)));
  EXPECT_FALSE(torch::equal(draft, full));
  EXPECT_LT((draft.to(torch::kFloat) - full.to(torch::kFloat)).abs().mean().item<double>(), 1.5);
}
