// What a run folder says about its run, read back for the diagnosis and the plots (while the run goes on or
// after it ended): config.json, metrics.jsonl (one record per epoch), steps.jsonl (one record per logging
// interval, see train/step_monitor.h, plus event records such as {"event": "nonfinite", ...}) and the
// checkpoint files. Lines cut by a crash are skipped; a folder that holds none of these files is an error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

namespace flatclr::report {

// A field of a record read from a run folder, which may hold anything (a crash, a hand edit): an integer when
// it is a finite number within int64's range (a float is truncated), else `fallback`. Never a cast out of
// range.
int64_t int_value(const nlohmann::json& record, const std::string& key, int64_t fallback);
// A double clamped into int64's range (NaN: 0), for epochs and steps computed from such fields.
int64_t to_int64(double value);
// The same for a number (any JSON number, as a double) and for a string: `fallback` when the record is not an
// object, the key is absent or the field has another type ({"epoch": "x"} or {"event": 5} is not an error).
double number_value(const nlohmann::json& record, const std::string& key, double fallback);
std::string string_value(const nlohmann::json& record, const std::string& key, const std::string& fallback);

struct RunHistory {
  std::string run_dir;
  nlohmann::json config = nlohmann::json::object();  // config.json, {} when absent
  std::vector<nlohmann::json> epochs;                // metrics.jsonl
  std::vector<nlohmann::json> intervals;             // steps.jsonl records with "global_step" and no "event"
  std::vector<nlohmann::json> events;                // steps.jsonl records with "event"
  std::vector<std::string> checkpoints;              // checkpoint_*.pth.tar file names, sorted

  // config value or `fallback`.
  template <typename T>
  T config_value(const std::string& key, T fallback) const {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      return static_cast<T>(int_value(config, key, fallback));
    }
    auto it = config.find(key);
    if (it == config.end() || it->is_null()) return fallback;
    try {
      return it->get<T>();
    } catch (const nlohmann::json::exception&) {
      return fallback;
    }
  }
  // The values of `key` over the intervals that have it, with their epochs and steps.
  struct Series {
    std::vector<double> value, epoch, step;
    bool empty() const { return value.empty(); }
  };
  Series series(const std::string& key) const;
};

// Throws UserError naming the folder when it is not a flatclr run folder.
RunHistory read_run_history(const std::string& run_dir);

}  // namespace flatclr::report
