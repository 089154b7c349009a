#include "flatclr/eval/run_checkpoints.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "flatclr/core/error.h"

namespace flatclr::eval {

namespace fs = std::filesystem;

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  if (!fs::is_directory(dir)) fail(Field{"checkpoint_dir"}, "=", dir, ": no such folder");
  std::vector<std::pair<int64_t, std::string>> out;
  const std::regex name(R"(^checkpoint_(\d+)\.pth\.tar$)");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string file = e.path().filename().string();
    if (e.is_regular_file() && std::regex_match(file, m, name))
      out.emplace_back(std::stoll(m[1]), e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) fail(Field{"checkpoint_dir"}, "=", dir, ": no checkpoint_<epoch>.pth.tar files in it");
  return out;
}

std::string choose_checkpoint(const std::string& dir, int64_t epoch) {
  const auto all = list_checkpoints(dir);
  if (epoch < 0) return all.back().second;
  for (const auto& [e, p] : all) {
    if (e == epoch) return p;
  }
  fail(Field{"transfer_from_epoch"}, "=", epoch, ": no checkpoint_", epoch, " in ", dir, " (it has epochs ",
       all.front().first, "..", all.back().first, ")");
}

}  // namespace flatclr::eval
