// metrics.jsonl (one line per epoch) and steps.jsonl (one per logging interval) in the run folder: one JSON
// object per line, appended and flushed as the run goes, so a crash loses at most the line being written. On
// resume the lines after the resumed epoch (step) are dropped atomically, so a file describes one run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace flatclr::train {

class MetricsLog {
 public:
  explicit MetricsLog(std::string path);
  // Keeps only records with "epoch" <= last_epoch (rewrites the file atomically).
  void truncate_after_epoch(int64_t last_epoch) { truncate_after("epoch", last_epoch); }
  // Keeps only records whose integer `key` is <= last (records without it are kept).
  void truncate_after(const std::string& key, int64_t last);
  void append(const nlohmann::ordered_json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace flatclr::train
