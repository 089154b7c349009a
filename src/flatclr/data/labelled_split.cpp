#include "flatclr/data/labelled_split.h"

#include <torch/torch.h>

#include <cstring>

#include "flatclr/core/error.h"
#include "flatclr/data/image_decode.h"
#include "flatclr/data/open_dataset.h"

namespace flatclr::data {

LabelledSplit LabelledSplit::in_memory(Dataset dataset) {
  FLATCLR_CHECK(dataset.images.defined() && dataset.images.dim() == 4, "LabelledSplit: no images");
  LabelledSplit s;
  s.name_ = dataset.name;
  s.labels_ = dataset.labels;
  s.num_classes_ = dataset.num_classes;
  s.class_names_ = dataset.class_names;
  if (s.class_names_.empty()) {
    for (int64_t c = 0; c < dataset.num_classes; ++c) s.class_names_.push_back(std::to_string(c));
  }
  s.prep_.height = dataset.images.size(2);
  s.prep_.width = dataset.images.size(3);
  s.memory_ = std::move(dataset);
  return s;
}

LabelledSplit LabelledSplit::streamed(std::string name, ImageFolderIndex index, ImagePrep prep,
                                      std::shared_ptr<BadImages> bad) {
  FLATCLR_CHECK(bad && prep.height > 0 && prep.width > 0, "LabelledSplit: no BadImages or no image size");
  LabelledSplit s;
  s.name_ = std::move(name);
  s.labels_ = torch::tensor(index.labels, torch::kLong);
  s.num_classes_ = static_cast<int64_t>(index.class_names.size());
  s.class_names_ = index.class_names;
  s.index_ = std::move(index);
  s.prep_ = prep;
  s.bad_ = std::move(bad);
  return s;
}

const at::Tensor& LabelledSplit::images() const {
  FLATCLR_CHECK(!streamed(), "LabelledSplit::images: the split ", name_, " is streamed");
  return memory_.images;
}

const Dataset& LabelledSplit::dataset() const {
  FLATCLR_CHECK(!streamed(), "LabelledSplit::dataset: the split ", name_, " is streamed");
  return memory_;
}

LabelledSplit LabelledSplit::subset(const std::vector<int64_t>& indices) const {
  LabelledSplit s = *this;
  auto idx = torch::tensor(indices, torch::kLong);
  s.labels_ = labels_.index_select(0, idx);
  if (!streamed()) {
    s.memory_.images = memory_.images.index_select(0, idx);
    s.memory_.labels = s.labels_;
    return s;
  }
  s.index_.paths.clear();
  s.index_.labels.clear();
  for (int64_t i : indices) {
    FLATCLR_CHECK(i >= 0 && i < size(), "LabelledSplit::subset: index ", i, " outside [0, ", size(), ")");
    s.index_.paths.push_back(index_.paths[static_cast<size_t>(i)]);
    s.index_.labels.push_back(index_.labels[static_cast<size_t>(i)]);
  }
  return s;
}

LabelledSplit LabelledSplit::resized(int64_t size, int threads) const {
  if (height() == size && width() == size) return *this;
  LabelledSplit s = *this;
  if (!streamed()) {
    s.memory_.images = resize_images(memory_.images, size, threads);
    s.prep_.height = s.prep_.width = size;
  } else {
    s.final_size_ = size;
  }
  return s;
}

bool LabelledSplit::read(int64_t i, uint8_t* out) const {
  FLATCLR_CHECK(streamed() && i >= 0 && i < size(), "LabelledSplit::read: image ", i, " of ", size(),
                streamed() ? "" : " (in memory)");
  const std::string& path = index_.paths[static_cast<size_t>(i)];
  DecodedImage d;
  try {
    d = decode_image_file(path, prep_.jpeg_draft ? prep_.resize : 0);
  } catch (const UserError& e) {
    bad_->report(path, e.what());  // throws under the stop policy
    return false;
  }
  at::Tensor x =
      torch::from_blob(d.pixels.data(), {d.height, d.width, 3}, torch::kByte).permute({2, 0, 1}).contiguous();
  if (prep_.resize > 0) {
    x = resize_center_crop(x, prep_.resize, prep_.crop);
  } else if (x.size(1) != prep_.height || x.size(2) != prep_.width) {
    fail(path, " is ", x.size(1), "x", x.size(2), " but the images of ", index_.dir, " are ", prep_.height,
         "x", prep_.width, ": a folder of small images needs images of one size");
  }
  if (final_size_ > 0) x = resize_center_crop(x, final_size_, final_size_);
  FLATCLR_CHECK(x.size(1) == height() && x.size(2) == width() && x.is_contiguous(),
                "LabelledSplit::read: prepared ", x.sizes(), ", expected ", height(), "x", width());
  std::memcpy(out, x.data_ptr<uint8_t>(), static_cast<size_t>(x.numel()));
  return true;
}

}  // namespace flatclr::data
