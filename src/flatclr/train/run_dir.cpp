#include "flatclr/train/run_dir.h"

#include <ctime>
#include <filesystem>

#include "flatclr/core/error.h"

namespace flatclr::train {

namespace fs = std::filesystem;

std::string create_run_dir(const std::string& save_dir, const std::string& dataset_name, int64_t batch_size,
                           const std::string& method_name) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%d-%m-%Y-%H-%M-%S", &tm);
  const fs::path parent =
      fs::path(save_dir) / dataset_name / (std::to_string(batch_size) + "_" + method_name);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec)
    fail("cannot create the run folder under ", parent.string(), ": ", ec.message(), " (check ",
         Field{"save_dir"}, ")");
  for (int i = 1;; ++i) {
    const fs::path dir =
        parent / (i == 1 ? std::string(stamp) : std::string(stamp) + "-" + std::to_string(i));
    if (fs::create_directory(dir, ec)) return dir.string();
    if (ec) fail("cannot create the run folder ", dir.string(), ": ", ec.message());
  }
}

std::string resolve_resume_checkpoint(const std::string& log_dir, const std::string& train_from) {
  if (!fs::is_directory(log_dir)) fail(Field{"log_dir"}, "=", log_dir, ": no such run folder");
  fs::path p = fs::path(log_dir) / train_from;
  if (!fs::exists(p) && fs::exists(train_from)) p = train_from;
  if (!fs::is_regular_file(p)) {
    fail(Field{"train_from"}, "=", train_from, ": no checkpoint ", (fs::path(log_dir) / train_from).string(),
         " (expected a file name such as checkpoint_0004.pth.tar inside ", Field{"log_dir"}, ")");
  }
  return p.string();
}

}  // namespace flatclr::train
