// CIFAR-10 / CIFAR-100 in the official binary format (Krizhevsky 2009, cs.toronto.edu/~kriz/cifar.html),
// as the dataset authors publish it:
//   cifar10:  <root>/cifar-10-batches-bin/data_batch_1..5.bin (train), test_batch.bin (test); each file holds
//             10,000 records of 3073 bytes: 1 label byte, then 1024 R, 1024 G, 1024 B bytes (32x32,
//             row-major). Class names from batches.meta.txt when present.
//   cifar100: <root>/cifar-100-binary/train.bin (50,000 records), test.bin (10,000); records of 3074 bytes:
//             coarse label, fine label (the one used), 3072 pixel bytes. Names from fine_label_names.txt.
// Each file is read with one read into a tensor, then sliced and reshaped: pixel (c, y, x) of record i is
// byte label_bytes + c*1024 + y*32 + x of that record. Missing, truncated or out-of-range data raise
// UserError with the file, its size, the expected size and a hint. ensure_cifar() downloads and unpacks a
// missing dataset (download.h) after checking the archive's MD5, or says which archive to put where.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "flatclr/data/dataset.h"

namespace flatclr::data {

constexpr int64_t kCifarImageSize = 32;
constexpr int64_t kCifarPixelBytes = 3 * kCifarImageSize * kCifarImageSize;  // 3072

// Where one CIFAR variant lives below the data root and how its files are laid out.
struct CifarLayout {
  std::string name;    // "cifar10" | "cifar100"
  std::string title;   // "CIFAR-10" (for messages)
  std::string folder;  // "cifar-10-batches-bin"
  std::vector<std::string> train_files;
  std::vector<std::string> test_files;
  int64_t train_records_per_file = 0;  // records in each train file (10,000 / 50,000)
  int64_t test_records_per_file = 0;   // records in each test file (10,000)
  int label_bytes = 1;                 // bytes before the pixels; the last one is the label used
  int64_t num_classes = 0;
  std::string names_file;  // optional file of class names, one a line ("batches.meta.txt")
};

// The layout of "cifar10" or "cifar100"; any other name is a UserError.
CifarLayout cifar_layout(const std::string& name);

// Where the official archive of a variant comes from. Every field may be overridden (mirrors, tests).
struct CifarSource {
  std::string url;         // "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
  std::string md5;         // expected MD5 of the archive, lowercase hex
  int64_t size_bytes = 0;  // archive size for messages; 0 = not stated
  int timeout_s = 60;      // connect timeout, and the longest a transfer may stall
};

// The official source of "cifar10" or "cifar100".
CifarSource default_cifar_source(const std::string& name);

struct CifarRecords {
  at::Tensor images;  // [N, 3, 32, 32] uint8
  at::Tensor labels;  // [N] int64
};

// Reads files of exactly `records_per_file` records of (label_bytes + 3072) bytes each, one read per file,
// and decodes them in order. The label is the last of the label bytes and must be < num_classes.
CifarRecords read_cifar_files(const std::vector<std::string>& paths, int64_t records_per_file,
                              int label_bytes, int64_t num_classes);
inline CifarRecords read_cifar_file(const std::string& path, int64_t records_per_file, int label_bytes,
                                    int64_t num_classes) {
  return read_cifar_files({path}, records_per_file, label_bytes, num_classes);
}

// Class names, one a line (blank lines skipped), from `path` when it exists; else `fallback_names`.
// A file with a number of names other than num_classes is a UserError.
std::vector<std::string> read_class_names(const std::string& path, int64_t num_classes,
                                          const std::vector<std::string>& fallback_names);

// The train or test split of a variant under data_root (the folder must already be there: ensure_cifar).
Dataset load_cifar(const std::string& data_root, const std::string& name, bool train);
Dataset load_cifar(const std::string& data_root, const CifarLayout& layout, bool train);

// Makes sure <data_root>/<folder> holds every train and test file of `name`. If it does: nothing. Otherwise
// downloads src.url to <data_root>/<archive file name> (or uses an archive already there), checks its MD5
// (a mismatch deletes the archive and fails with both MD5s), unpacks it into a temporary folder, moves the
// dataset folder into place and deletes the archive. Without network or download support: a UserError that
// says which archive (URL, MD5) to unpack where. A folder that exists but lacks files is an error that
// names them (nothing is deleted).
void ensure_cifar(const std::string& data_root, const std::string& name, const CifarSource& src);
inline void ensure_cifar(const std::string& data_root, const std::string& name) {
  ensure_cifar(data_root, name, default_cifar_source(name));
}

}  // namespace flatclr::data
