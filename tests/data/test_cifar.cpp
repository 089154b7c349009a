#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/data/cifar.h"

namespace {

namespace fs = std::filesystem;
using flatclr::UserError;
using namespace flatclr::data;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "flatclr-test-cifar-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A pixel value that differs between records, planes, rows and columns (and files, through `salt`).
uint8_t pixel(int64_t record, int64_t c, int64_t y, int64_t x, int64_t salt) {
  return static_cast<uint8_t>((record * 31 + c * 101 + y * 7 + x * 3 + salt * 57) % 256);
}

// Bytes of `labels.size()` records; each record is its label bytes followed by the R, G and B planes.
std::string make_records(const std::vector<std::vector<uint8_t>>& labels, int64_t salt) {
  std::string bytes;
  for (size_t r = 0; r < labels.size(); ++r) {
    for (uint8_t l : labels[r]) bytes.push_back(static_cast<char>(l));
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) bytes.push_back(static_cast<char>(pixel(r, c, y, x, salt)));
  }
  return bytes;
}

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::vector<uint8_t>> cifar10_labels(int64_t n, int64_t salt) {
  std::vector<std::vector<uint8_t>> labels;
  for (int64_t r = 0; r < n; ++r) labels.push_back({static_cast<uint8_t>((r * 3 + salt) % 10)});
  return labels;
}

// Checks images/labels against the record bytes, element by element, via the documented byte formula.
void expect_decoded(const at::Tensor& images, const at::Tensor& labels, const std::string& bytes,
                    int64_t first_record, int64_t n, int label_bytes) {
  const int64_t record_bytes = label_bytes + 3072;
  auto img = images.accessor<uint8_t, 4>();
  auto lab = labels.accessor<int64_t, 1>();
  int64_t mismatches = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t base = i * record_bytes;
    EXPECT_EQ(lab[first_record + i], static_cast<uint8_t>(bytes[base + label_bytes - 1])) << "record " << i;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) {
          const auto want = static_cast<uint8_t>(bytes[base + label_bytes + c * 1024 + y * 32 + x]);
          mismatches += img[first_record + i][c][y][x] != want;
        }
  }
  EXPECT_EQ(mismatches, 0);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "<no UserError>";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Cifar, ReadsLabelsAndChannelPlanes) {
  TempDir tmp;
  const std::string bytes = make_records(cifar10_labels(6, 0), 0);
  write_file(tmp.path() / "b.bin", bytes);
  const CifarRecords r = read_cifar_file((tmp.path() / "b.bin").string(), 6, 1, 10);
  ASSERT_EQ(r.images.sizes(), (std::vector<int64_t>{6, 3, 32, 32}));
  ASSERT_EQ(r.images.scalar_type(), at::kByte);
  ASSERT_TRUE(r.images.is_contiguous());
  ASSERT_EQ(r.labels.sizes(), (std::vector<int64_t>{6}));
  ASSERT_EQ(r.labels.scalar_type(), at::kLong);
  expect_decoded(r.images, r.labels, bytes, 0, 6, 1);
  // The formula written out independently of the byte string: (c, y, x) of record 4.
  EXPECT_EQ(r.images[4][0][0][0].item<int64_t>(), pixel(4, 0, 0, 0, 0));
  EXPECT_EQ(r.images[4][2][31][5].item<int64_t>(), pixel(4, 2, 31, 5, 0));
  EXPECT_EQ(r.images[4][1][3][30].item<int64_t>(), pixel(4, 1, 3, 30, 0));
  EXPECT_EQ(r.labels[4].item<int64_t>(), (4 * 3) % 10);
}

TEST(Cifar, ConcatenatesFilesInOrder) {
  TempDir tmp;
  const std::string a = make_records(cifar10_labels(3, 1), 1);
  const std::string b = make_records(cifar10_labels(3, 2), 2);
  write_file(tmp.path() / "a.bin", a);
  write_file(tmp.path() / "b.bin", b);
  const CifarRecords r =
      read_cifar_files({(tmp.path() / "a.bin").string(), (tmp.path() / "b.bin").string()}, 3, 1, 10);
  ASSERT_EQ(r.images.size(0), 6);
  expect_decoded(r.images, r.labels, a, 0, 3, 1);
  const CifarRecords rb = read_cifar_files({(tmp.path() / "b.bin").string()}, 3, 1, 10);
  EXPECT_TRUE(torch::equal(r.images.narrow(0, 3, 3), rb.images));
  EXPECT_TRUE(torch::equal(r.labels.narrow(0, 3, 3), rb.labels));
}

TEST(Cifar, Cifar100UsesTheFineLabel) {
  TempDir tmp;
  std::vector<std::vector<uint8_t>> labels;
  for (int r = 0; r < 8; ++r) labels.push_back({static_cast<uint8_t>(19 - r), static_cast<uint8_t>(r * 14)});
  const std::string bytes = make_records(labels, 3);
  write_file(tmp.path() / "train.bin", bytes);
  const CifarRecords r = read_cifar_file((tmp.path() / "train.bin").string(), 8, 2, 100);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r.labels[i].item<int64_t>(), i * 14);
  expect_decoded(r.images, r.labels, bytes, 0, 8, 2);
}

TEST(Cifar, TruncatedOrOversizedFileNamesSizes) {
  TempDir tmp;
  std::string bytes = make_records(cifar10_labels(4, 0), 0);
  const fs::path path = tmp.path() / "data_batch_1.bin";
  write_file(path, bytes.substr(0, bytes.size() - 1));
  std::string msg = error_of([&] { read_cifar_file(path.string(), 4, 1, 10); });
  EXPECT_TRUE(contains(msg, path.string())) << msg;
  EXPECT_TRUE(contains(msg, "12291")) << msg;  // 4 * 3073 - 1
  EXPECT_TRUE(contains(msg, "12292")) << msg;
  EXPECT_TRUE(contains(msg, "truncated download")) << msg;
  write_file(path, bytes + "x");
  msg = error_of([&] { read_cifar_file(path.string(), 4, 1, 10); });
  EXPECT_TRUE(contains(msg, "12293")) << msg;
}

TEST(Cifar, MissingFileIsNamed) {
  TempDir tmp;
  const fs::path path = tmp.path() / "test_batch.bin";
  const std::string msg = error_of([&] { read_cifar_file(path.string(), 4, 1, 10); });
  EXPECT_TRUE(contains(msg, path.string())) << msg;
  EXPECT_TRUE(contains(msg, "not found")) << msg;
}

TEST(Cifar, LabelOutOfRangeNamesFileAndRecord) {
  TempDir tmp;
  auto labels = cifar10_labels(5, 0);
  labels[3] = {10};
  write_file(tmp.path() / "x.bin", make_records(labels, 0));
  const std::string msg = error_of([&] { read_cifar_file((tmp.path() / "x.bin").string(), 5, 1, 10); });
  EXPECT_TRUE(contains(msg, "x.bin")) << msg;
  EXPECT_TRUE(contains(msg, "record 3")) << msg;
  EXPECT_TRUE(contains(msg, "label 10")) << msg;

  // CIFAR-100: a fine label of 100 is bad, a coarse label byte is not checked against 100.
  write_file(tmp.path() / "y.bin", make_records({{200, 5}, {1, 100}}, 0));
  const std::string msg100 = error_of([&] { read_cifar_file((tmp.path() / "y.bin").string(), 2, 2, 100); });
  EXPECT_TRUE(contains(msg100, "record 1")) << msg100;
  EXPECT_TRUE(contains(msg100, "label 100")) << msg100;
}

// A CIFAR-10 layout with `n` records per file, so load_cifar can run on small files.
CifarLayout small_cifar10(int64_t n) {
  CifarLayout l = cifar_layout("cifar10");
  l.train_records_per_file = n;
  l.test_records_per_file = n;
  return l;
}

TEST(Cifar, LoadCifar10SplitsAndClassNames) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "cifar-10-batches-bin";
  std::vector<std::string> train_bytes;
  for (int f = 1; f <= 5; ++f) {
    train_bytes.push_back(make_records(cifar10_labels(4, f), f));
    write_file(dir / ("data_batch_" + std::to_string(f) + ".bin"), train_bytes.back());
  }
  const std::string test_bytes = make_records(cifar10_labels(4, 9), 9);
  write_file(dir / "test_batch.bin", test_bytes);

  const Dataset train = load_cifar(tmp.path().string(), small_cifar10(4), true);
  EXPECT_EQ(train.name, "cifar10");
  EXPECT_EQ(train.num_classes, 10);
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{20, 3, 32, 32}));
  for (int f = 0; f < 5; ++f) expect_decoded(train.images, train.labels, train_bytes[f], 4 * f, 4, 1);
  // No batches.meta.txt: the built-in CIFAR-10 names.
  ASSERT_EQ(train.class_names.size(), 10u);
  EXPECT_EQ(train.class_names[0], "airplane");
  EXPECT_EQ(train.class_names[9], "truck");

  // batches.meta.txt as the official archive writes it (trailing blank lines), with CRLF for good measure.
  std::string meta;
  for (int c = 0; c < 10; ++c) meta += "name" + std::to_string(c) + "\r\n";
  write_file(dir / "batches.meta.txt", meta + "\n\n");
  const Dataset test = load_cifar(tmp.path().string(), small_cifar10(4), false);
  ASSERT_EQ(test.images.size(0), 4);
  expect_decoded(test.images, test.labels, test_bytes, 0, 4, 1);
  ASSERT_EQ(test.class_names.size(), 10u);
  EXPECT_EQ(test.class_names[7], "name7");

  write_file(dir / "batches.meta.txt", "a\nb\n");
  const std::string msg = error_of([&] { load_cifar(tmp.path().string(), small_cifar10(4), false); });
  EXPECT_TRUE(contains(msg, "batches.meta.txt")) << msg;
  EXPECT_TRUE(contains(msg, "2 class names, expected 10")) << msg;
}

TEST(Cifar, LoadCifar100FineLabelsAndNames) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "cifar-100-binary";
  CifarLayout l = cifar_layout("cifar100");
  l.train_records_per_file = 3;
  l.test_records_per_file = 2;
  write_file(dir / "train.bin", make_records({{0, 99}, {19, 0}, {7, 42}}, 1));
  write_file(dir / "test.bin", make_records({{3, 50}, {4, 51}}, 2));
  Dataset train = load_cifar(tmp.path().string(), l, true);
  EXPECT_EQ(train.name, "cifar100");
  EXPECT_EQ(train.num_classes, 100);
  EXPECT_TRUE(torch::equal(train.labels, torch::tensor({99, 0, 42}, torch::kLong)));
  ASSERT_EQ(train.class_names.size(), 100u);
  EXPECT_EQ(train.class_names[42], "42");  // no fine_label_names.txt
  std::string names;
  for (int c = 0; c < 100; ++c) names += "fine" + std::to_string(c) + "\n";
  write_file(dir / "fine_label_names.txt", names);
  const Dataset test = load_cifar(tmp.path().string(), l, false);
  EXPECT_TRUE(torch::equal(test.labels, torch::tensor({50, 51}, torch::kLong)));
  EXPECT_EQ(test.class_names[51], "fine51");
}

TEST(Cifar, LoadMissingDatasetSaysWhatToDownload) {
  TempDir tmp;
  const std::string msg = error_of([&] { load_cifar(tmp.path().string(), "cifar10", true); });
  EXPECT_TRUE(contains(msg, (tmp.path() / "cifar-10-batches-bin" / "data_batch_1.bin").string())) << msg;
  EXPECT_TRUE(contains(msg, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")) << msg;
  EXPECT_TRUE(contains(msg, "c32a1d4ab5d03f1284b67883e8d87530")) << msg;
  EXPECT_TRUE(contains(msg, "tar xzf")) << msg;
}

TEST(Cifar, UnknownNameIsUserError) {
  EXPECT_THROW(cifar_layout("cifar11"), UserError);
  EXPECT_THROW(default_cifar_source("mnist"), UserError);
  EXPECT_THROW(load_cifar("/nonexistent", "imagenet", true), UserError);
}

TEST(Cifar, OfficialLayoutsAndSources) {
  const CifarLayout c10 = cifar_layout("cifar10");
  EXPECT_EQ(c10.folder, "cifar-10-batches-bin");
  EXPECT_EQ(c10.train_files.size(), 5u);
  EXPECT_EQ(c10.train_records_per_file * 5, 50000);
  EXPECT_EQ(c10.test_records_per_file, 10000);
  EXPECT_EQ(c10.label_bytes, 1);
  const CifarLayout c100 = cifar_layout("cifar100");
  EXPECT_EQ(c100.folder, "cifar-100-binary");
  EXPECT_EQ(c100.train_records_per_file, 50000);
  EXPECT_EQ(c100.test_records_per_file, 10000);
  EXPECT_EQ(c100.label_bytes, 2);
  EXPECT_EQ(c100.num_classes, 100);
  EXPECT_EQ(default_cifar_source("cifar10").md5, "c32a1d4ab5d03f1284b67883e8d87530");
  EXPECT_EQ(default_cifar_source("cifar10").size_bytes, 170052171);
  EXPECT_EQ(default_cifar_source("cifar100").md5, "03b5dce01913d631647c71ecec9e9cb8");
}

// The real sizes (10,000 records per file) through the public load_cifar(root, "cifar10", train).
TEST(Cifar, FullSizeCifar10TestSplit) {
  TempDir tmp;
  std::vector<std::vector<uint8_t>> labels = cifar10_labels(10000, 4);
  std::string bytes = make_records(labels, 4);
  ASSERT_EQ(bytes.size(), 30730000u);
  write_file(tmp.path() / "cifar-10-batches-bin" / "test_batch.bin", bytes);
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = load_cifar(tmp.path().string(), "cifar10", false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(d.images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
  expect_decoded(d.images, d.labels, bytes, 0, 10000, 1);
  EXPECT_LT(seconds, 2.0) << "reading 30 MB took " << seconds << " s";
  // A train split with one batch file missing names that file.
  const std::string msg = error_of([&] { load_cifar(tmp.path().string(), "cifar10", true); });
  EXPECT_TRUE(contains(msg, "data_batch_1.bin")) << msg;
}

}  // namespace

// The real data, when FLATCLR_CIFAR10_ROOT names a folder holding cifar-10-batches-bin (for example one made
// by scripts/prepare_cifar10.sh). Skipped otherwise: unit tests do not depend on a 180 MB download.
TEST(Cifar, RealCifar10WhenAvailable) {
  const char* root = std::getenv("FLATCLR_CIFAR10_ROOT");
  if (root == nullptr || *root == '\0') GTEST_SKIP() << "set FLATCLR_CIFAR10_ROOT to run";
  const auto start = std::chrono::steady_clock::now();
  const Dataset train = load_cifar(root, "cifar10", true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Dataset test = load_cifar(root, "cifar10", false);
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{50000, 3, 32, 32}));
  ASSERT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(torch::bincount(train.labels), torch::full({10}, 5000, torch::kLong)));
  EXPECT_TRUE(torch::equal(torch::bincount(test.labels), torch::full({10}, 1000, torch::kLong)));
  EXPECT_EQ(train.class_names.front(), "airplane");
  EXPECT_EQ(train.class_names.back(), "truck");
  // Published per-channel means of the CIFAR-10 training set (R, G, B); a wrong plane order or an offset of
  // one byte moves them by far more than 0.005.
  const at::Tensor mean = train.images.to(torch::kDouble).mean({0, 2, 3}) / 255.0;
  const double published[3] = {0.4914, 0.4822, 0.4465};
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(mean[c].item<double>(), published[c], 0.005) << "channel " << c;
  std::printf("loaded 50,000 training images in %.3f s; channel means %.4f %.4f %.4f\n", seconds,
              mean[0].item<double>(), mean[1].item<double>(), mean[2].item<double>());
}
