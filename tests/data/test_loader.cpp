// The worker-thread view loader: batches independent of the worker count and prefetch depth (equal to the
// single-threaded make_batch), in-memory and folder sources agree, bad files skipped (replaced by the next
// file) or stopping the run with the path, shape/range of the output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <numeric>
#include <random>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/data/augment_image.h"
#include "flatclr/data/loader.h"

namespace {

namespace fs = std::filesystem;
using namespace flatclr::data;

at::Tensor random_images(int64_t n, int64_t h, int64_t w) {
  torch::manual_seed(3);
  return torch::randint(0, 256, {n, 3, h, w}, torch::kLong).to(torch::kByte);
}

std::vector<int64_t> shuffled(int64_t n, int64_t seed) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  std::mt19937 g(static_cast<unsigned>(seed));
  std::shuffle(v.begin(), v.end(), g);
  return v;
}

std::vector<at::Tensor> run_epoch(ViewLoader& loader, int64_t epoch, const std::vector<int64_t>& order,
                                  int64_t bs) {
  loader.start_epoch(epoch, order, bs);
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < loader.batches_in_epoch(); ++b) out.push_back(loader.next());
  return out;
}

TEST(ViewLoader, BatchesDoNotDependOnWorkersOrPrefetch) {
  auto source = std::make_shared<MemoryImageSource>(random_images(23, 20, 18));
  const int64_t bs = 5;
  const auto order = shuffled(23, 1);
  std::vector<std::vector<at::Tensor>> runs;
  for (auto [workers, prefetch] : {std::pair{0, 1}, std::pair{1, 1}, std::pair{3, 2}, std::pair{4, 5}}) {
    LoaderOptions o;
    o.workers = workers;
    o.prefetch = prefetch;
    o.augment = per_image_config(true, 16);
    o.seed = 9;
    ViewLoader loader(source, o);
    runs.push_back(run_epoch(loader, 2, order, bs));
    EXPECT_GE(loader.wait_seconds(), 0.0);
  }
  ASSERT_EQ(runs[0].size(), 4u);  // 23 / 5, drop_last
  for (size_t b = 0; b < runs[0].size(); ++b) {
    const auto& ref = runs[0][b];
    EXPECT_EQ(ref.sizes(), (std::vector<int64_t>{10, 3, 16, 16}));
    EXPECT_GE(ref.min().item<float>(), 0.0f);
    EXPECT_LE(ref.max().item<float>(), 1.0f);
    std::vector<int64_t> idx(order.begin() + b * bs, order.begin() + (b + 1) * bs);
    EXPECT_TRUE(torch::equal(ref, ViewLoader::make_batch(*source, idx, per_image_config(true, 16), 9, 2)));
    for (size_t r = 1; r < runs.size(); ++r)
      EXPECT_TRUE(torch::equal(runs[r][b], ref)) << "run " << r << " batch " << b;
  }
  // Views 0 and 1 of an image differ, and so do epochs.
  EXPECT_FALSE(torch::equal(runs[0][0].narrow(0, 0, bs), runs[0][0].narrow(0, bs, bs)));
  LoaderOptions o;
  o.workers = 2;
  o.augment = per_image_config(true, 16);
  o.seed = 9;
  ViewLoader loader(source, o);
  EXPECT_FALSE(torch::equal(run_epoch(loader, 3, order, bs)[0], runs[0][0]));
  // A second epoch on the same loader after a partly consumed one.
  loader.start_epoch(4, order, bs);
  loader.next();
  const auto again = run_epoch(loader, 2, order, bs);
  for (size_t b = 0; b < again.size(); ++b) EXPECT_TRUE(torch::equal(again[b], runs[0][b]));
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("flatclr_test_loader_" + std::to_string(::getpid()));
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

TEST(ViewLoader, FolderSourceEqualsMemorySourceAndSkipsBadFiles) {
  if (!have_jpeg() || !have_png()) GTEST_SKIP() << "built without libjpeg or libpng";
  TempDir t;
  put(t.path / "a", "rgb.jpg", "0.jpg");
  put(t.path / "a", "truncated.jpg", "1.jpg");
  put(t.path / "a", "gray.jpg", "2.jpg");
  put(t.path / "b", "rgb.png", "3.png");
  put(t.path / "b", "palette.png", "4.png");
  const auto index = scan_image_folder(t.path.string());
  auto bad = std::make_shared<BadImages>(false);
  auto folder = std::make_shared<FolderImageSource>(index, bad);
  // In memory: the good files; the bad one (index 1) is replaced by index 2 in the folder source.
  BadImages bad_mem;
  const auto ds = load_image_folder(index, "t", FolderLoadOptions{}, bad_mem);
  ASSERT_EQ(ds.images.size(0), 4);
  auto mem = std::make_shared<MemoryImageSource>(
      torch::stack({ds.images[0], ds.images[1], ds.images[1], ds.images[2], ds.images[3]}));
  LoaderOptions o;
  o.workers = 2;
  o.augment = per_image_config(true, 8);
  o.seed = 5;
  ViewLoader a(folder, o), b(mem, o);
  const std::vector<int64_t> order = {4, 1, 0, 3, 2};
  const auto fa = run_epoch(a, 0, order, 5), fb = run_epoch(b, 0, order, 5);
  ASSERT_EQ(fa.size(), 1u);
  EXPECT_TRUE(torch::equal(fa[0], fb[0]));
  EXPECT_EQ(bad->count(), 1);

  auto stop = std::make_shared<FolderImageSource>(index, std::make_shared<BadImages>(true));
  ViewLoader c(stop, o);
  c.start_epoch(0, order, 5);
  try {
    c.next();
    FAIL() << "no error";
  } catch (const flatclr::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("1.jpg"), std::string::npos) << e.what();
  }
}

}  // namespace
