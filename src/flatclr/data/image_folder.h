// Image-folder datasets as torchvision's ImageFolder reads them (the paper's ImageNet layout):
// <data>/<name>/<split>/<class>/**/<file>, the classes being the sorted names of the sub-folders of the split
// (class index = position in that order), the samples every .jpg/.jpeg/.png file below a class folder
// (case-insensitive, recursive, by folder then file name as ImageFolder; other files are ignored, as it
// ignores non-image extensions). The training split is "train"; the held-out split is "val" or, when there is
// none, "test" (the layout of the shared CIFAR-10 JPEGs).
//
// Bad files (that cannot be decoded): BadImages reports each one once with its path and counts them. Policy
// "stop" turns the first into a UserError; "skip" (the default) leaves it out of an in-memory load, and in
// the streaming loader replaces it by the next decodable file of the folder, so batches stay full and
// deterministic.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "flatclr/core/choice.h"
#include "flatclr/data/dataset.h"

namespace flatclr::data {

struct ImageFolderIndex {
  std::string dir;                       // <data>/<name>/<split>
  std::vector<std::string> class_names;  // sorted
  std::vector<std::string> paths;        // sorted by (class, path)
  std::vector<int64_t> labels;           // index into class_names, one per path
  int64_t size() const { return static_cast<int64_t>(paths.size()); }
};

// <data_root>/<name>/train, or the held-out split <data_root>/<name>/val (else .../test). UserError naming
// the folder(s) looked for when absent.
std::string image_folder_split_dir(const std::string& data_root, const std::string& name, bool train);
// Whether <data_root>/<name>/train exists (an image-folder dataset is there).
bool is_image_folder_dataset(const std::string& data_root, const std::string& name);

// Scans one split folder. UserError when it has no class folder, or a class folder holds no image file.
ImageFolderIndex scan_image_folder(const std::string& split_dir);

// Thread-safe record of the files that failed to decode.
class BadImages {
 public:
  explicit BadImages(bool stop = false) : stop_(stop) {}
  // Records path once (a warning on stderr); with the stop policy throws UserError with the message.
  void report(const std::string& path, const std::string& message);
  bool is_bad(int64_t index) const;
  void mark(int64_t index);
  int64_t count() const { return count_.load(); }
  bool stop() const { return stop_; }

 private:
  bool stop_;
  std::atomic<int64_t> count_{0};
  mutable std::mutex mutex_;
  std::set<std::string> paths_;
  std::set<int64_t> indices_;
};

// What to do with an image file that fails to decode: skip it (counted, reported once) or stop with an error.
enum class BadImagesPolicy { kSkip, kStop };
inline constexpr core::Choice<BadImagesPolicy> kBadImagesPolicies[] = {{BadImagesPolicy::kSkip, "skip"},
                                                                       {BadImagesPolicy::kStop, "stop"}};
constexpr const auto& choices_of(BadImagesPolicy) { return kBadImagesPolicies; }

struct FolderLoadOptions {
  // 0: keep the decoded size (every image must then have the same size). Else resize the shorter side to
  // `resize` (bicubic with antialiasing, as PIL's Resize(size, BICUBIC)) and take the central crop x crop.
  int64_t resize = 0, crop = 0;
  int threads = 1;  // decoding threads
  // With resize > 0: decode JPEGs smaller in the DCT domain, down to a shorter side of `resize`
  // (image_decode.h: faster on large files, not PIL's exact pixels).
  bool jpeg_draft = false;
};

// Decodes every file of the index into memory: Dataset{[N, 3, H, W] uint8, labels}. Bad files are reported
// to `bad` and left out (or stop the load, by its policy).
Dataset load_image_folder(const ImageFolderIndex& index, const std::string& name, const FolderLoadOptions& o,
                          BadImages& bad);

// Resize of the shorter side to `resize` (bicubic, antialiased) and central crop (torchvision
// Resize + CenterCrop). image: [3, H, W] uint8 -> [3, crop, crop] uint8.
at::Tensor resize_center_crop(const at::Tensor& image, int64_t resize, int64_t crop);

}  // namespace flatclr::data
