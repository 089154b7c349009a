#include "flatclr/data/image_folder.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <thread>

#include "flatclr/core/error.h"
#include "flatclr/data/image_decode.h"

namespace flatclr::data {

namespace fs = std::filesystem;

namespace {

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

}  // namespace

std::string image_folder_split_dir(const std::string& data_root, const std::string& name, bool train) {
  const fs::path base = fs::path(data_root) / name;
  if (train) {
    const auto dir = base / "train";
    if (!fs::is_directory(dir))
      fail("image-folder dataset '", name, "': no training folder ", dir.string(),
           " (expected <data>/<name>/train/<class>/<image files>; set ", Field{"data.root"},
           " to the folder that holds ", name, ")");
    return dir.string();
  }
  for (const char* split : {"val", "test"}) {
    if (fs::is_directory(base / split)) return (base / split).string();
  }
  fail("image-folder dataset '", name, "': no held-out folder ", (base / "val").string(), " or ",
       (base / "test").string(), " (expected <data>/<name>/val/<class>/<image files>)");
}

bool is_image_folder_dataset(const std::string& data_root, const std::string& name) {
  return fs::is_directory(fs::path(data_root) / name / "train");
}

ImageFolderIndex scan_image_folder(const std::string& split_dir) {
  ImageFolderIndex index;
  index.dir = split_dir;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(split_dir, ec)) {
    if (e.is_directory()) index.class_names.push_back(e.path().filename().string());
  }
  if (ec) fail(split_dir, ": cannot list the folder (", ec.message(), ")");
  std::sort(index.class_names.begin(), index.class_names.end());
  if (index.class_names.empty())
    fail(split_dir, ": no class folders (expected ", split_dir, "/<class>/<image files>)");
  for (size_t c = 0; c < index.class_names.size(); ++c) {
    const fs::path class_dir = fs::path(split_dir) / index.class_names[c];
    std::vector<std::string> files;
    for (auto it =
             fs::recursive_directory_iterator(class_dir, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file() && has_image_extension(it->path())) files.push_back(it->path().string());
    }
    if (ec) fail(class_dir.string(), ": cannot list the folder (", ec.message(), ")");
    if (files.empty())
      fail(class_dir.string(),
           ": no .jpg, .jpeg or .png file in this class folder (every class needs images)");
    // ImageFolder's order: sorted(os.walk(...)) folders, then sorted file names within each.
    std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
      const fs::path pa(a), pb(b);
      const auto da = pa.parent_path().string(), db = pb.parent_path().string();
      return da != db ? da < db : pa.filename().string() < pb.filename().string();
    });
    for (auto& f : files) {
      index.paths.push_back(std::move(f));
      index.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return index;
}

void BadImages::report(const std::string& path, const std::string& message) {
  if (stop_) {
    fail(message, " (", Field{"data.bad_images"}, "=stop; use ", Field{"data.bad_images"},
         "=skip to leave such files out)");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (paths_.insert(path).second) {
    ++count_;
    std::cerr << "warning: skipping a bad image: " << message << std::endl;
  }
}

bool BadImages::is_bad(int64_t index) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return indices_.count(index) > 0;
}

void BadImages::mark(int64_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  indices_.insert(index);
}

at::Tensor resize_center_crop(const at::Tensor& image, int64_t resize, int64_t crop) {
  FLATCLR_CHECK(image.dim() == 3 && image.size(0) == 3 && image.scalar_type() == at::kByte,
                "resize_center_crop: expected [3, H, W] uint8, got ", image.sizes());
  FLATCLR_CHECK(resize > 0 && crop > 0, "resize_center_crop: sizes must be positive");
  const int64_t h = image.size(1), w = image.size(2);
  // torchvision Resize(int): the shorter side becomes `resize`, the longer int(resize * long / short).
  int64_t nh = resize, nw = resize;
  if (h <= w)
    nw = static_cast<int64_t>(static_cast<double>(resize) * w / h);
  else
    nh = static_cast<int64_t>(static_cast<double>(resize) * h / w);
  namespace F = torch::nn::functional;
  at::Tensor x = image;
  if (nh != h || nw != w) {
    x = F::interpolate(image.unsqueeze(0).to(at::kFloat), F::InterpolateFuncOptions()
                                                              .size(std::vector<int64_t>{nh, nw})
                                                              .mode(torch::kBicubic)
                                                              .align_corners(false)
                                                              .antialias(true))
            .squeeze(0)
            .round_()
            .clamp_(0, 255)
            .to(at::kByte);
  }
  FLATCLR_CHECK(crop <= nh && crop <= nw, "resize_center_crop: crop ", crop, " larger than the resized ", nh,
                "x", nw);
  // torchvision CenterCrop: top = int(round((h - crop) / 2)).
  const auto top = static_cast<int64_t>(std::round((nh - crop) / 2.0));
  const auto left = static_cast<int64_t>(std::round((nw - crop) / 2.0));
  return x.narrow(1, top, crop).narrow(2, left, crop).contiguous();
}

Dataset load_image_folder(const ImageFolderIndex& index, const std::string& name, const FolderLoadOptions& o,
                          BadImages& bad) {
  const int64_t n = index.size();
  std::vector<at::Tensor> images(static_cast<size_t>(n));
  std::atomic<int64_t> next{0};
  std::mutex error_mutex;
  std::string first_error;
  auto work = [&]() {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        DecodedImage d;
        try {
          d = decode_image_file(index.paths[i], o.jpeg_draft ? o.resize : 0);
        } catch (const UserError& e) {
          bad.report(index.paths[i], e.what());
          continue;
        }
        auto t = torch::from_blob(d.pixels.data(), {d.height, d.width, 3}, torch::kByte).permute({2, 0, 1});
        images[i] = o.resize > 0 ? resize_center_crop(t.contiguous(), o.resize, o.crop) : t.contiguous();
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.empty()) first_error = e.what();
        next = n;
      }
    }
  };
  const int threads = std::max(1, std::min<int>(o.threads, static_cast<int>(std::max<int64_t>(n, 1))));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (!first_error.empty()) fail(first_error);

  std::vector<at::Tensor> kept;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    if (!images[i].defined()) continue;
    if (!kept.empty() && images[i].sizes() != kept.front().sizes()) {
      fail(index.paths[i], " is ", images[i].size(1), "x", images[i].size(2), " but ", index.paths.front(),
           " is ", kept.front().size(1), "x", kept.front().size(2),
           ": an in-memory image folder needs images of one size (larger images are resized and cropped "
           "when the dataset is ImageNet-sized)");
    }
    kept.push_back(images[i]);
    labels.push_back(index.labels[i]);
  }
  if (kept.empty()) fail(index.dir, ": none of the ", n, " image files could be decoded");
  Dataset ds;
  ds.images = torch::stack(kept, 0);
  ds.labels = torch::tensor(labels, torch::kLong);
  ds.num_classes = static_cast<int64_t>(index.class_names.size());
  ds.name = name;
  ds.class_names = index.class_names;
  return ds;
}

}  // namespace flatclr::data
