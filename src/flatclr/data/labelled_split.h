// A labelled split as evaluation, finetuning, the supervised baseline and `flatclr embed` read it: either
// every image in memory (CIFAR, small image folders, or any folder when streaming is off) or streamed (the
// files of an image folder, each decoded and prepared when a batch asks for it, data/split_loader.h). The
// labels are in memory either way: an image folder's come from its index, without decoding anything.
//
// Preparation of a streamed image (the in-memory load's, image for image, so both give the same bytes):
//   ImageNet-sized folders   Resize(256) + CenterCrop(224), bicubic with antialiasing (image_folder.h);
//   small folders            the image as decoded (every image of the split must have the first one's size);
//   then, when the split is resized (transfer to an encoder of another input size), Resize(size) +
//   CenterCrop(size) of that, as resize_images does for images in memory.
// A file that cannot be decoded is reported to the split's BadImages and left out of its batch (or stops
// the run, by the policy); an in-memory load leaves it out of the split. The two agree when no file is bad.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flatclr/data/dataset.h"
#include "flatclr/data/image_folder.h"

namespace flatclr::data {

struct ImagePrep {
  int64_t resize = 0, crop = 0;   // Resize(resize) + CenterCrop(crop); 0: the image as decoded
  int64_t height = 0, width = 0;  // the prepared image's size: crop x crop, or the size every image has
  bool jpeg_draft = false;        // with resize > 0: JPEGs decoded smaller in the DCT domain (image_decode.h)
};

class LabelledSplit {
 public:
  LabelledSplit() = default;
  static LabelledSplit in_memory(Dataset dataset);
  // index: the files (and labels) of the split; prep.height/width: the size of every prepared image.
  static LabelledSplit streamed(std::string name, ImageFolderIndex index, ImagePrep prep,
                                std::shared_ptr<BadImages> bad);

  int64_t size() const { return labels_.defined() ? labels_.size(0) : 0; }
  const at::Tensor& labels() const { return labels_; }  // [N] int64, CPU
  int64_t num_classes() const { return num_classes_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::string& name() const { return name_; }
  bool streamed() const { return !memory_.images.defined(); }
  // The side of the images given (after the resize of resized()).
  int64_t height() const { return final_size_ > 0 ? final_size_ : prep_.height; }
  int64_t width() const { return final_size_ > 0 ? final_size_ : prep_.width; }
  // In memory: [N, 3, H, W] uint8, CPU (InternalError for a streamed split).
  const at::Tensor& images() const;
  const Dataset& dataset() const;  // in memory: the dataset as loaded (labels of a subset included)
  const std::shared_ptr<BadImages>& bad() const { return bad_; }

  // The images at `indices` (into this split), renumbered 0..n-1 in that order.
  LabelledSplit subset(const std::vector<int64_t>& indices) const;
  // Every image brought to size x size (Resize(size) + CenterCrop(size), bicubic): in memory now, on
  // `threads` threads; streamed when each image is read. The split itself when already that size.
  LabelledSplit resized(int64_t size, int threads) const;

  // Streamed splits: image i, prepared, into out ([3, H, W] uint8, C order); false when its file cannot be
  // decoded (reported to bad(), which throws under the stop policy). UserError naming the file when it
  // decodes to another size than the split's (a small folder of mixed sizes). Thread-safe.
  bool read(int64_t i, uint8_t* out) const;

 private:
  std::string name_;
  Dataset memory_;          // in memory
  ImageFolderIndex index_;  // streamed
  ImagePrep prep_;
  int64_t final_size_ = 0;  // streamed and resized: the side of the last Resize + CenterCrop, else 0
  at::Tensor labels_;
  int64_t num_classes_ = 0;
  std::vector<std::string> class_names_;
  std::shared_ptr<BadImages> bad_;
};

}  // namespace flatclr::data
