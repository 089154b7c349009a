// From a data root and a dataset name to images, for pretraining and evaluation:
//   cifar10 / cifar100 -> the official binaries (downloaded when allowed), in memory, 32 px.
//   any other name     -> the image folder <data>/<name>/{train, val|test}/<class>/* (image_folder.h).
//     "small" folders (the first training image has both sides <= kSmallImageMax, and the name is not
//     imagenet), e.g. the CIFAR-10 JPEGs: every image decoded into memory (one size required), used at its
//     own size like CIFAR (CIFAR stem, s = 0.5 colour jitter, no blur).
//     otherwise "ImageNet-sized": pretraining streams the files through the loader (224 px crops, ImageNet
//     stem, s = 1 jitter and blur); evaluation reads each split as Resize(256) + CenterCrop(224) (bicubic,
//     as the paper's linear eval), streamed from disk batch by batch (data/labelled_split.h).
// Streaming (evaluation splits): auto streams ImageNet-sized folders and keeps CIFAR and small folders in
// memory; on streams every image folder; off loads every split into memory (a folder that fits: epochs
// without decoding). CIFAR's binaries are always in memory.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "flatclr/core/choice.h"
#include "flatclr/data/dataset.h"
#include "flatclr/data/image_folder.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/loader.h"

namespace flatclr::data {

constexpr int64_t kSmallImageMax = 64;   // px: folders of images up to this size are used as CIFAR is
constexpr int64_t kLargeCropSize = 224;  // RandomResizedCrop / CenterCrop size of ImageNet-sized data
constexpr int64_t kLargeResizeSize = 256;

bool is_cifar_name(const std::string& name);

enum class Streaming { kAuto, kOn, kOff };
inline constexpr core::Choice<Streaming> kStreamings[] = {
    {Streaming::kAuto, "auto"}, {Streaming::kOn, "on"}, {Streaming::kOff, "off"}};
constexpr const auto& choices_of(Streaming) { return kStreamings; }

struct OpenOptions {
  bool download = true;      // CIFAR archives
  bool stop_on_bad = false;  // BadImagesPolicy::kStop
  int threads = 1;           // decoding threads for in-memory loads
  Streaming streaming = Streaming::kAuto;
  // ImageNet-sized evaluation splits: JPEGs decoded smaller in the DCT domain before Resize(256)
  // (image_decode.h); off: PIL's pixels.
  bool jpeg_draft = false;
};

// The training split for pretraining.
struct TrainImages {
  std::string name;
  bool small = true;       // used at its own size (CIFAR-like); false: ImageNet-sized
  int64_t view_size = 32;  // side of the augmented views
  Dataset memory;     // images [N, 3, H, W] uint8 + labels when in memory; images undefined when streamed
  at::Tensor labels;  // [N] int64 (always)
  int64_t num_classes = 0;
  std::shared_ptr<ImageSource> source;  // for the per-image loader (memory or folder)
  std::shared_ptr<BadImages> bad;       // bad files met so far (folders)
};
TrainImages open_train_images(const std::string& data_root, const std::string& name, const OpenOptions& o);

// A labelled split for evaluation, in memory (ImageNet-sized folders: Resize(256) + CenterCrop(224),
// bicubic). `bad` collects the bad files (folders). `image_list` (training split of an image folder only):
// only the images it names (data/image_list.h); UserError naming `image_list`'s field for CIFAR.
Dataset load_labelled_split(const std::string& data_root, const std::string& name, bool train,
                            const OpenOptions& o, BadImages& bad, const std::string& image_list = "");

// A labelled split for evaluation, in memory or streamed by o.streaming (see above); the same images either
// way. `bad` collects the bad files. `image_list` as for load_labelled_split.
LabelledSplit open_labelled_split(const std::string& data_root, const std::string& name, bool train,
                                  const OpenOptions& o, std::shared_ptr<BadImages> bad,
                                  const std::string& image_list = "");

// The (height, width) of the first decodable image of the index (the bad ones before it reported).
std::pair<int64_t, int64_t> first_image_size(const ImageFolderIndex& index, BadImages& bad);
// Whether a folder dataset is used at its own size (see above): decided from its first decodable image.
bool folder_is_small(const std::string& name, const ImageFolderIndex& index, BadImages& bad);

// Every image brought to size x size as torchvision's Resize(size) + CenterCrop(size) does (bicubic,
// antialiased): images [N, 3, H, W] uint8 -> [N, 3, size, size] uint8; returned as is when already that size.
at::Tensor resize_images(const at::Tensor& images, int64_t size, int threads);

}  // namespace flatclr::data
