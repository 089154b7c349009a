// Benchmark of the per-image SimCLR data pipeline (--faster_version=False): read + decode a JPEG
// (libjpeg-turbo) + two augmented views (data/augment_image.h), in images/s on ONE thread (per core),
// against the reference's torchvision/PIL pipeline (bench/pil_pipeline.py, also one thread) on the same
// files in the same invocation, for
//   32 px:  CIFAR-10 JPEGs (shared/data/cifar10-jpg.tar.gz), views of 32 px, s = 0.5, no blur;
//   224 px: 500x375 JPEGs made by upscaling CIFAR images (bicubic, quality 90), views of 224 px, s = 1, blur.
// Prints both rates and the ratio; then the multi-threaded loader's rate with --workers threads.
//   build/bench_data_pipeline [--shared DIR] [--small N] [--large N] [--reps R] [--workers W]
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
#include "flatclr/data/loader.h"

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
    if (e.is_regular_file() && e.path().extension() == ".jpg") v.push_back(e.path().string());
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

}  // namespace

int main(int argc, char** argv) {
  fs::path shared = fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared" / "data";
  if (const char* env = std::getenv("FLATCLR_SHARED_DATA")) shared = env;
  int64_t n_small = 5000, n_large = 300;
  int reps = 3, workers = 2;
  CLI::App app{"decode + two SimCLR views per core, flatclr vs the torchvision/PIL pipeline"};
  app.add_option("--shared", shared, "folder holding cifar10-jpg.tar.gz");
  app.add_option("--small", n_small, "32 px CIFAR JPEGs")->check(CLI::Range(1, 1 << 30));
  app.add_option("--large", n_large, "500x375 JPEGs cropped to 224 px")->check(CLI::Range(1, 1 << 30));
  app.add_option("--reps", reps, "repetitions (best of)")->check(CLI::Range(1, 1 << 30));
  app.add_option("--workers", workers, "threads of the multi-threaded loader")->check(CLI::Range(1, 1 << 30));
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
