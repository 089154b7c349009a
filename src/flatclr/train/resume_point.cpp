#include "flatclr/train/resume_point.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "flatclr/core/error.h"

namespace flatclr::train {

namespace fs = std::filesystem;

std::vector<SavedCheckpoint> list_run_checkpoints(const std::string& dir, int64_t steps_per_epoch) {
  std::vector<std::pair<SavedCheckpoint, int>> found;  // (checkpoint, 1 for an epoch's, 0 for a step's)
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  const std::regex epoch_name(R"(^checkpoint_(\d+)\.pth\.tar$)"),
      step_name(R"(^checkpoint_step_(\d+)\.pth\.tar$)");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, epoch_name)) {
      found.push_back({{e.path().string(), std::stoll(m[1]) * steps_per_epoch}, 1});
    } else if (std::regex_match(name, m, step_name)) {
      found.push_back({{e.path().string(), std::stoll(m[1])}, 0});
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first.global_step != b.first.global_step ? a.first.global_step > b.first.global_step
                                                      : a.second > b.second;
  });
  std::vector<SavedCheckpoint> out;
  for (auto& f : found) out.push_back(std::move(f.first));
  return out;
}

std::optional<FoundCheckpoint> newest_checkpoint(const std::string& dir, int64_t steps_per_epoch) {
  FoundCheckpoint f;
  for (const auto& saved : list_run_checkpoints(dir, steps_per_epoch)) {
    try {
      f.checkpoint = io::load_checkpoint(saved.path);
      f.path = saved.path;
      return f;
    } catch (const std::exception& e) {
      f.skipped.push_back(saved.path + ": " + e.what());
    }
  }
  return std::nullopt;
}

void remove_older_step_checkpoints(const std::string& dir, int64_t global_step) {
  const std::regex step_name(R"(^checkpoint_step_(\d+)\.pth\.tar$)");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, step_name) && std::stoll(m[1]) < global_step) fs::remove(e.path(), ec);
  }
}

std::string job_run_dir(const std::string& save_dir, const std::string& dataset_name, int64_t batch_size,
                        const std::string& method_name, const std::string& run_id) {
  std::string id = run_id;
  for (char& ch : id) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '.' || ch == '-' || ch == '_';
    if (!keep) ch = '_';
  }
  return (fs::path(save_dir) / dataset_name / (std::to_string(batch_size) + "_" + method_name) /
          ("torchrun-" + id))
      .string();
}

}  // namespace flatclr::train
