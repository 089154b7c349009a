// Benchmark of the per-image SimCLR data pipeline (--faster_version=False): read + decode a JPEG
// (libjpeg-turbo) + two augmented views (data/augment_image.h), in images/s on ONE thread (per core),
// against the reference's torchvision/PIL pipeline (bench/pil_pipeline.py, also one thread) on the same
// files in the same invocation, for
//   32 px:  CIFAR-10 JPEGs (shared/data/cifar10-jpg.tar.gz), views of 32 px, s = 0.5, no blur;
//   224 px: 500x375 JPEGs made by upscaling CIFAR images (bicubic, quality 90), views of 224 px, s = 1, blur.
// Prints both rates and the ratio; then the multi-threaded loader's rate with --workers threads.
//   build/bench_data_pipeline [--shared DIR] [--small N] [--large N] [--reps R] [--workers W]
//
// --sizing: how many decode threads keep a GPU fed. On --large JPEGs of 500x375 and 1200x900 (upscaled CIFAR
// images, as above: smoother than photos) and of 900-1200 px noise-heavy synthetic images
// (scripts/make_synthetic_imagenet.py: harder than photos), ONE thread's images/s for
//   pretraining  decode + two 224 px views with blur (the per-image loader's work);
//   evaluation   decode + Resize(256) + CenterCrop(224) through LabelledSplit::read, the streamed path,
//                with the full decode and with --jpeg_draft's DCT-domain scaling (data/image_decode.h);
// and cores needed = --gpu_images_per_s / that rate. Then each evaluation crop against PIL's (Resize(256,
// BICUBIC) + CenterCrop(224), no draft; bench/pil_pipeline.py crops): mean and max absolute difference.
//   build/bench_data_pipeline --sizing [--large N] [--reps R] [--gpu_images_per_s RATE]
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "flatclr/data/augment_image.h"
#include "flatclr/data/image_decode.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/loader.h"
#include "flatclr/data/open_dataset.h"

using namespace flatclr;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int sh(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  if (rc != 0) std::cerr << "command failed (" << rc << "): " << cmd << "\n";
  return rc;
}

std::vector<std::string> list_jpegs(const fs::path& dir) {
  std::vector<std::string> v;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.path().extension() == ".jpg" || e.path().extension() == ".JPEG"))
      v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

void write_list(const fs::path& p, const std::vector<std::string>& files) {
  std::ofstream f(p);
  for (auto& s : files) f << s << "\n";
}

// One thread: read + decode + two views per file; images/s (median of reps).
double flatclr_rate(const std::vector<std::string>& files, const data::AugmentConfig& c, int reps) {
  std::vector<float> out(static_cast<size_t>(3 * c.size * c.size));
  auto one_pass = [&](int64_t epoch) {
    for (size_t i = 0; i < files.size(); ++i) {
      const auto img = data::decode_image_file(files[i]);
      const data::ImageView v{img.pixels.data(), img.height, img.width};
      for (int view = 0; view < 2; ++view) {
        data::augment_view(v,
                           data::draw_view(c, img.height, img.width, 1, epoch, view, static_cast<int64_t>(i)),
                           c, out.data());
      }
    }
  };
  one_pass(-1);  // warm-up (page cache, allocations)
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    const auto t = Clock::now();
    one_pass(r);
    rates.push_back(static_cast<double>(files.size()) /
                    std::chrono::duration<double>(Clock::now() - t).count());
  }
  return median(rates);
}

double loader_rate(const std::vector<std::string>& files, const data::AugmentConfig& c, int workers) {
  data::ImageFolderIndex index;
  index.dir = "bench";
  index.class_names = {"x"};
  index.paths = files;
  index.labels.assign(files.size(), 0);
  auto source = std::make_shared<data::FolderImageSource>(index, std::make_shared<data::BadImages>(true));
  data::LoaderOptions o;
  o.workers = workers;
  o.augment = c;
  data::ViewLoader loader(source, o);
  std::vector<int64_t> order(files.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  const int64_t bs = 50;
  const auto t = Clock::now();
  loader.start_epoch(0, order, bs);
  for (int64_t b = 0; b < loader.batches_in_epoch(); ++b) loader.next();
  return static_cast<double>(loader.batches_in_epoch() * bs) /
         std::chrono::duration<double>(Clock::now() - t).count();
}

double pil_rate(const fs::path& script, const fs::path& list, int64_t size, double s, bool blur, int reps) {
  const fs::path out = list.string() + ".rate";
  if (sh(std::string(FLATCLR_PYTHON) + " " + script.string() + " run " + list.string() + " " +
         std::to_string(size) + " " + std::to_string(s) + " " + (blur ? "1" : "0") + " " +
         std::to_string(reps) + " > " + out.string()) != 0)
    return -1;
  double rate = -1;
  std::ifstream(out) >> rate;
  return rate;
}

void check_views(const std::vector<std::string>& files, const data::AugmentConfig& c) {
  // Correctness first: every view finite and in [0, 1], and not constant.
  const auto img = data::decode_image_file(files.front());
  std::vector<float> out(static_cast<size_t>(3 * c.size * c.size));
  data::augment_view({img.pixels.data(), img.height, img.width},
                     data::draw_view(c, img.height, img.width, 1, 0, 0, 0), c, out.data());
  const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
  if (!(*lo >= 0.0f && *hi <= 1.0f && *hi > *lo)) {
    std::cerr << "views out of range: [" << *lo << ", " << *hi << "]\n";
    std::exit(1);
  }
}

// The streamed evaluation split of `files`: Resize(256) + CenterCrop(224), as open_labelled_split makes it.
data::LabelledSplit eval_split(const std::vector<std::string>& files, bool jpeg_draft) {
  data::ImageFolderIndex index;
  index.dir = "bench";
  index.class_names = {"x"};
  index.paths = files;
  index.labels.assign(files.size(), 0);
  data::ImagePrep prep;
  prep.resize = data::kLargeResizeSize;
  prep.crop = prep.height = prep.width = data::kLargeCropSize;
  prep.jpeg_draft = jpeg_draft;
  return data::LabelledSplit::streamed("bench", index, prep, std::make_shared<data::BadImages>(true));
}

// One thread: LabelledSplit::read of every file (read + decode + resize + crop); images/s (median of reps).
// `crops` (if given) receives the crops of the last pass, [N, 3, 224, 224].
double eval_rate(const std::vector<std::string>& files, bool jpeg_draft, int reps,
                 std::vector<uint8_t>* crops) {
  const auto split = eval_split(files, jpeg_draft);
  const size_t per = static_cast<size_t>(3 * data::kLargeCropSize * data::kLargeCropSize);
  std::vector<uint8_t> out(per * files.size());
  auto one_pass = [&]() {
    for (size_t i = 0; i < files.size(); ++i) split.read(static_cast<int64_t>(i), out.data() + i * per);
  };
  one_pass();  // warm-up
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    const auto t = Clock::now();
    one_pass();
    rates.push_back(static_cast<double>(files.size()) /
                    std::chrono::duration<double>(Clock::now() - t).count());
  }
  if (crops) *crops = std::move(out);
  return median(rates);
}

int sizing(const fs::path& tmp, const fs::path& script, const std::vector<std::string>& small, int64_t n,
           int reps, double gpu_rate) {
  struct Set {
    std::string name;
    std::vector<std::string> files;
  };
  std::vector<Set> sets;
  for (auto [w, h] : {std::pair{500, 375}, std::pair{1200, 900}}) {
    const auto dir = tmp / ("large_" + std::to_string(w));
    std::cout << "making " << n << " " << w << "x" << h << " JPEGs (bicubic upscaling, quality 90)"
              << std::endl;
    if (sh(std::string(FLATCLR_PYTHON) + " " + script.string() + " make-large " +
           (tmp / "small.txt").string() + " " + dir.string() + " " + std::to_string(n) + " " +
           std::to_string(w) + " " + std::to_string(h)) != 0)
      return 1;
    sets.push_back({std::to_string(w) + "x" + std::to_string(h) + " upscaled CIFAR", list_jpegs(dir)});
  }
  const fs::path synth_script =
      fs::path(__FILE__).parent_path().parent_path() / "scripts" / "make_synthetic_imagenet.py";
  std::cout << "making " << n << " noise-heavy synthetic JPEGs of 900-1200 px" << std::endl;
  if (sh(std::string(FLATCLR_PYTHON) + " " + synth_script.string() + " " + (tmp / "synth").string() + " 1 " +
         std::to_string(n) + " 0 900 1200") != 0)
    return 1;
  sets.push_back({"900-1200 px noisy synthetic", list_jpegs(tmp / "synth" / "train")});

  torch::set_num_threads(1);
  std::printf("one decode thread; cores needed = %.0f images/s / the thread's rate\n", gpu_rate);
  std::printf("%-30s %-34s %10s %8s %16s %8s\n", "files", "pipeline", "img/s", "cores", "vs PIL mean/max",
              "");
  for (auto& set : sets) {
    const double pre = flatclr_rate(set.files, data::per_image_config(false, 224), reps);
    std::vector<uint8_t> full, draft;
    const double ev = eval_rate(set.files, false, reps, &full);
    const double evd = eval_rate(set.files, true, reps, &draft);
    const auto raw_full = tmp / "crops_full.u8", raw_draft = tmp / "crops_draft.u8";
    std::ofstream(raw_full, std::ios::binary)
        .write(reinterpret_cast<const char*>(full.data()), static_cast<std::streamsize>(full.size()));
    std::ofstream(raw_draft, std::ios::binary)
        .write(reinterpret_cast<const char*>(draft.data()), static_cast<std::streamsize>(draft.size()));
    write_list(tmp / "set.txt", set.files);
    const auto diff_out = tmp / "diff.txt";
    std::string d_full = "n/a", d_draft = "n/a";
    if (sh(std::string(FLATCLR_PYTHON) + " " + script.string() + " crops " + (tmp / "set.txt").string() +
           " " + raw_full.string() + " " + raw_draft.string() + " > " + diff_out.string()) == 0) {
      std::ifstream in(diff_out);
      std::string path;
      double mean = 0;
      int max = 0;
      char buf[64];
      if (in >> path >> mean >> max) std::snprintf(buf, sizeof buf, "%.3f / %d", mean, max), d_full = buf;
      if (in >> path >> mean >> max) std::snprintf(buf, sizeof buf, "%.3f / %d", mean, max), d_draft = buf;
    }
    const char* f = "%-30s %-34s %10.1f %8.1f %16s\n";
    std::printf(f, set.name.c_str(), "pretraining: 2 views 224 px + blur", pre, gpu_rate / pre, "");
    std::printf(f, "", "evaluation: Resize 256, crop 224", ev, gpu_rate / ev, d_full.c_str());
    std::printf(f, "", "evaluation, --jpeg_draft", evd, gpu_rate / evd, d_draft.c_str());
    std::fflush(stdout);
  }
  std::printf(
      "(%.0f images/s: an ASSUMED ResNet-50 training rate on one H200, not measured; replace it with "
      "--gpu_images_per_s from a measurement. vs PIL: the crop against PIL's Resize(256, BICUBIC) + "
      "CenterCrop(224) without draft, mean / max absolute difference in 0-255 units)\n",
      gpu_rate);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path shared = fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "data";
  if (const char* env = std::getenv("FLATCLR_SHARED_DATA")) shared = env;
  int64_t n_small = 5000, n_large = 300;
  int reps = 3, workers = 2;
  bool sizing_mode = false;
  double gpu_rate = 3000;
  CLI::App app{"decode + two SimCLR views per core, flatclr vs the torchvision/PIL pipeline"};
  app.add_option("--shared", shared, "folder holding cifar10-jpg.tar.gz");
  app.add_option("--small", n_small, "32 px CIFAR JPEGs")->check(CLI::Range(1, 1 << 30));
  app.add_option("--large", n_large, "500x375 JPEGs cropped to 224 px")->check(CLI::Range(1, 1 << 30));
  app.add_option("--reps", reps, "repetitions (best of)")->check(CLI::Range(1, 1 << 30));
  app.add_option("--workers", workers, "threads of the multi-threaded loader")->check(CLI::Range(1, 1 << 30));
  app.add_flag(
      "--sizing", sizing_mode,
      "per-thread images/s for pretraining and evaluation on large JPEGs, and the cores a GPU needs");
  app.add_option("--gpu_images_per_s", gpu_rate,
                 "--sizing: the GPU's training images/s to feed (default: 3000, an ASSUMED ResNet-50 rate on "
                 "one H200, not measured)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const fs::path script = fs::path(__FILE__).parent_path() / "pil_pipeline.py";
  const fs::path tmp = fs::temp_directory_path() / ("flatclr_bench_data_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::cout << "unpacking " << (shared / "cifar10-jpg.tar.gz").string() << " into " << tmp.string()
            << std::endl;
  if (sh("tar xzf " + (shared / "cifar10-jpg.tar.gz").string() + " -C " + tmp.string() + " train") != 0)
    return 1;
  auto all = list_jpegs(tmp / "train");
  // Every class: a stride through the sorted list.
  std::vector<std::string> small;
  const size_t stride = std::max<size_t>(1, all.size() / static_cast<size_t>(n_small));
  for (size_t i = 0; i < all.size() && static_cast<int64_t>(small.size()) < n_small; i += stride)
    small.push_back(all[i]);
  write_list(tmp / "small.txt", small);
  if (sizing_mode) {
    const int rc = sizing(tmp, script, small, n_large, reps, gpu_rate);
    fs::remove_all(tmp);
    return rc;
  }
  std::cout << "making " << n_large << " 500x375 JPEGs (bicubic upscaling, quality 90)" << std::endl;
  if (sh(std::string(FLATCLR_PYTHON) + " " + script.string() + " make-large " + (tmp / "small.txt").string() +
         " " + (tmp / "large").string() + " " + std::to_string(n_large) + " 500 375") != 0)
    return 1;
  const auto large = list_jpegs(tmp / "large");
  write_list(tmp / "large.txt", large);

  torch::set_num_threads(1);
  struct Case {
    const char* name;
    const std::vector<std::string>* files;
    data::AugmentConfig config;
    double s;
  };
  const std::vector<Case> cases = {
      {"32x32 CIFAR-10 JPEGs, 32 px views", &small, data::per_image_config(true, 32), 0.5},
      {"500x375 JPEGs, 224 px views + blur", &large, data::per_image_config(false, 224), 1.0}};
  std::printf("%-40s %8s %14s %14s %8s %16s\n", "case", "images", "flatclr img/s", "PIL img/s", "ratio",
              "loader img/s");
  for (const auto& c : cases) {
    check_views(*c.files, c.config);
    const double ours = flatclr_rate(*c.files, c.config, reps);
    const fs::path list = tmp / (c.files == &small ? "small.txt" : "large.txt");
    const double pil = pil_rate(script, list, c.config.size, c.s, c.config.blur, reps);
    const double threaded = loader_rate(*c.files, c.config, workers);
    std::printf("%-40s %8zu %14.1f %14.1f %7.2fx %11.1f (%d w)\n", c.name, c.files->size(), ours, pil,
                pil > 0 ? ours / pil : 0.0, threaded, workers);
    std::fflush(stdout);
  }
  std::printf("(one thread each for flatclr and PIL: images/s per core; each image = decode + 2 views)\n");
  fs::remove_all(tmp);
  return 0;
}
