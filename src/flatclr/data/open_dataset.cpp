#include "flatclr/data/open_dataset.h"

#include <torch/torch.h>

#include <iostream>
#include <tuple>

#include "flatclr/core/error.h"
#include "flatclr/data/cifar.h"
#include "flatclr/data/image_decode.h"
#include "flatclr/data/image_list.h"

namespace flatclr::data {

std::pair<int64_t, int64_t> first_image_size(const ImageFolderIndex& index, BadImages& bad) {
  for (const auto& path : index.paths) {
    try {
      const auto img = decode_image_file(path);
      return {img.height, img.width};
    } catch (const UserError& e) {
      bad.report(path, e.what());
    }
  }
  fail(index.dir, ": none of the ", index.size(), " image files could be decoded");
}

bool folder_is_small(const std::string& name, const ImageFolderIndex& index, BadImages& bad) {
  if (name == "imagenet") return false;
  const auto [h, w] = first_image_size(index, bad);
  return h <= kSmallImageMax && w <= kSmallImageMax;
}

bool is_cifar_name(const std::string& name) { return name == "cifar10" || name == "cifar100"; }

TrainImages open_train_images(const std::string& data_root, const std::string& name, const OpenOptions& o) {
  TrainImages t;
  t.name = name;
  t.bad = std::make_shared<BadImages>(o.stop_on_bad);
  if (is_cifar_name(name)) {
    if (o.download) ensure_cifar(data_root, name, default_cifar_source(name));
    t.memory = load_cifar(data_root, name, /*train=*/true);
  } else {
    auto index = scan_image_folder(image_folder_split_dir(data_root, name, /*train=*/true));
    t.small = folder_is_small(name, index, *t.bad);
    if (t.small) {
      FolderLoadOptions fo;
      fo.threads = std::max(1, o.threads);
      t.memory = load_image_folder(index, name, fo, *t.bad);
    } else {
      t.view_size = kLargeCropSize;
      t.labels = torch::tensor(index.labels, torch::kLong);
      t.num_classes = static_cast<int64_t>(index.class_names.size());
      t.source = std::make_shared<FolderImageSource>(std::move(index), t.bad);
      return t;
    }
  }
  t.view_size = std::min(t.memory.images.size(2), t.memory.images.size(3));
  t.labels = t.memory.labels;
  t.num_classes = t.memory.num_classes;
  t.source = std::make_shared<MemoryImageSource>(t.memory.images);
  return t;
}

LabelledSplit open_labelled_split(const std::string& data_root, const std::string& name, bool train,
                                  const OpenOptions& o, std::shared_ptr<BadImages> bad,
                                  const std::string& image_list) {
  if (is_cifar_name(name)) {
    if (!image_list.empty()) {
      fail(Field{"semi_list"}, "=", image_list, ": a list of image files needs an image-folder dataset; ",
           name, " is read from its binary files (use ", Field{"semi_ratio"}, " instead)");
    }
    if (o.download) ensure_cifar(data_root, name, default_cifar_source(name));
    return LabelledSplit::in_memory(load_cifar(data_root, name, train));
  }
  const auto train_index = scan_image_folder(image_folder_split_dir(data_root, name, /*train=*/true));
  auto index = train ? train_index : scan_image_folder(image_folder_split_dir(data_root, name, false));
  if (!image_list.empty()) {
    FLATCLR_CHECK(train, "an image list for the held-out split");
    index = select_listed(index, image_list);
  }
  if (!train && index.class_names != train_index.class_names)
    fail(index.dir, ": its class folders differ from those of ", train_index.dir,
         " (both splits need the same classes)");
  const bool small = folder_is_small(name, train_index, *bad);
  ImagePrep prep;
  if (!small) {
    prep.resize = kLargeResizeSize;
    prep.crop = prep.height = prep.width = kLargeCropSize;
    prep.jpeg_draft = o.jpeg_draft;
  }
  const bool stream = o.streaming == Streaming::kOn || (o.streaming == Streaming::kAuto && !small);
  if (stream) {
    if (small) std::tie(prep.height, prep.width) = first_image_size(index, *bad);
    return LabelledSplit::streamed(name, std::move(index), prep, std::move(bad));
  }
  FolderLoadOptions fo;
  fo.threads = std::max(1, o.threads);
  fo.resize = prep.resize;
  fo.crop = prep.crop;
  fo.jpeg_draft = prep.jpeg_draft;
  return LabelledSplit::in_memory(load_image_folder(index, name, fo, *bad));
}

Dataset load_labelled_split(const std::string& data_root, const std::string& name, bool train,
                            const OpenOptions& o, BadImages& bad, const std::string& image_list) {
  OpenOptions memory = o;
  memory.streaming = Streaming::kOff;
  // `bad` outlives the split (not kept: an in-memory split reads no file later).
  const std::shared_ptr<BadImages> borrowed(&bad, [](BadImages*) {});
  return open_labelled_split(data_root, name, train, memory, borrowed, image_list).dataset();
}

at::Tensor resize_images(const at::Tensor& images, int64_t size, int threads) {
  if (images.size(2) == size && images.size(3) == size) return images;
  const int64_t n = images.size(0);
  auto out = torch::empty({n, 3, size, size}, torch::kUInt8);
  at::parallel_for(0, n, std::max<int64_t>(1, n / std::max(1, threads)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i].copy_(resize_center_crop(images[i], size, size));
  });
  return out;
}

}  // namespace flatclr::data
