// A labelled split read batch by batch, for one pass over data that need not fit in memory (embedding every
// image of a large folder). CIFAR and small image folders (data/open_dataset.h) are loaded into memory and
// sliced; ImageNet-sized folders decode only the files of the batch asked for (on `OpenOptions::threads`
// threads), as Resize(256) + CenterCrop(224) (bicubic), the evaluation's images. Files that cannot be decoded
// are reported to BadImages and left out (or stop the pass, by its policy), so a batch may hold fewer images
// than asked for.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flatclr/data/dataset.h"
#include "flatclr/data/image_folder.h"
#include "flatclr/data/open_dataset.h"

namespace flatclr::data {

class LabelledBatches {
 public:
  LabelledBatches(const std::string& data_root, const std::string& name, bool train, const OpenOptions& o,
                  std::shared_ptr<BadImages> bad);

  int64_t size() const { return size_; }  // images in the split, bad files included
  int64_t num_classes() const { return static_cast<int64_t>(class_names_.size()); }
  const std::vector<std::string>& class_names() const { return class_names_; }
  bool streamed() const { return !memory_.images.defined(); }

  // The next up to `batch` images (images [b, 3, H, W] uint8 and labels [b] int64, CPU) into `out`; false
  // when the split is exhausted.
  bool next(int64_t batch, Dataset& out);

 private:
  std::string name_;
  Dataset memory_;          // small datasets
  ImageFolderIndex index_;  // streamed folders
  std::vector<std::string> class_names_;
  std::shared_ptr<BadImages> bad_;
  int threads_ = 1;
  int64_t size_ = 0, pos_ = 0;
};

}  // namespace flatclr::data
