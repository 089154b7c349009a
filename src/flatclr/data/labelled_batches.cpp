#include "flatclr/data/labelled_batches.h"

#include <algorithm>

#include "flatclr/core/error.h"

namespace flatclr::data {

LabelledBatches::LabelledBatches(const std::string& data_root, const std::string& name, bool train,
                                 const OpenOptions& o, std::shared_ptr<BadImages> bad)
    : name_(name), bad_(std::move(bad)), threads_(std::max(1, o.threads)) {
  if (!is_cifar_name(name)) {
    const auto train_index = scan_image_folder(image_folder_split_dir(data_root, name, /*train=*/true));
    if (!folder_is_small(name, train_index, *bad_)) {
      index_ = train ? train_index : scan_image_folder(image_folder_split_dir(data_root, name, false));
      class_names_ = train_index.class_names;
      size_ = index_.size();
      return;
    }
  }
  memory_ = load_labelled_split(data_root, name, train, o, *bad_);
  class_names_ = memory_.class_names;
  if (class_names_.empty()) {
    for (int64_t c = 0; c < memory_.num_classes; ++c) class_names_.push_back(std::to_string(c));
  }
  size_ = memory_.images.size(0);
}

bool LabelledBatches::next(int64_t batch, Dataset& out) {
  if (pos_ >= size_) return false;
  const int64_t end = std::min(size_, pos_ + batch);
  out.num_classes = num_classes();
  out.name = name_;
  out.class_names = class_names_;
  if (!streamed()) {
    out.images = memory_.images.slice(0, pos_, end);
    out.labels = memory_.labels.slice(0, pos_, end);
  } else {
    ImageFolderIndex part;
    part.dir = index_.dir;
    part.class_names = index_.class_names;
    part.paths.assign(index_.paths.begin() + pos_, index_.paths.begin() + end);
    part.labels.assign(index_.labels.begin() + pos_, index_.labels.begin() + end);
    FolderLoadOptions fo;
    fo.resize = kLargeResizeSize;
    fo.crop = kLargeCropSize;
    fo.threads = threads_;
    const int64_t bad_before = bad_->count();
    try {
      Dataset d = load_image_folder(part, name_, fo, *bad_);
      out.images = d.images;
      out.labels = d.labels;
    } catch (const UserError&) {
      // Every file of this batch was bad (and skipped): an empty batch. Anything else goes on up.
      if (bad_->stop() || bad_->count() - bad_before < end - pos_) throw;
      out.images = at::empty({0, 3, kLargeCropSize, kLargeCropSize}, at::kByte);
      out.labels = at::empty({0}, at::kLong);
    }
  }
  pos_ = end;
  return true;
}

}  // namespace flatclr::data
