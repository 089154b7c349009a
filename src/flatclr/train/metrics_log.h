// metrics.jsonl in the run folder: one JSON object per line (one per epoch), appended and flushed as the
// run goes, so a crash loses at most the line being written. On resume the lines after the resumed epoch
// are dropped (atomically), so the file always describes one consistent run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace flatclr::train {

class MetricsLog {
 public:
  explicit MetricsLog(std::string path);
  // Keeps only records with "epoch" <= last_epoch (rewrites the file atomically).
  void truncate_after_epoch(int64_t last_epoch);
  void append(const nlohmann::ordered_json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace flatclr::train
