#include "flatclr/train/metrics_log.h"

#include <filesystem>
#include <fstream>

#include "flatclr/core/atomic_file.h"
#include "flatclr/core/error.h"

namespace flatclr::train {

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {}

void MetricsLog::truncate_after(const std::string& key, int64_t last) {
  if (!std::filesystem::exists(path_)) return;
  std::ifstream in(path_);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) continue;  // a line cut by a crash
    if (j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() > last) continue;
    kept += line + "\n";
  }
  core::write_file_atomic(path_, kept);
}

void MetricsLog::append(const nlohmann::ordered_json& record) {
  std::ofstream out(path_, std::ios::app);
  out << record.dump() << "\n";
  out.flush();
  if (!out) fail("cannot append to ", path_);
}

}  // namespace flatclr::train
