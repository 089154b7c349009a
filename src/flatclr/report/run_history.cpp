#include "flatclr/report/run_history.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "flatclr/core/error.h"

namespace flatclr::report {

int64_t to_int64(double value) {
  if (std::isnan(value)) return 0;
  if (value >= 9.2e18) return INT64_MAX;
  if (value <= -9.2e18) return INT64_MIN;
  return static_cast<int64_t>(value);
}

int64_t int_value(const nlohmann::json& record, const std::string& key, int64_t fallback) {
  if (!record.is_object()) return fallback;
  auto it = record.find(key);
  if (it == record.end()) return fallback;
  if (it->is_number_integer())
    return it->is_number_unsigned() ? to_int64(it->get<double>()) : it->get<int64_t>();
  if (it->is_number_float() && std::isfinite(it->get<double>())) return to_int64(it->get<double>());
  return fallback;
}

double number_value(const nlohmann::json& record, const std::string& key, double fallback) {
  if (!record.is_object()) return fallback;
  auto it = record.find(key);
  return it != record.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string string_value(const nlohmann::json& record, const std::string& key, const std::string& fallback) {
  if (!record.is_object()) return fallback;
  auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : fallback;
}

namespace fs = std::filesystem;
namespace {

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded() && j.is_object()) out.push_back(std::move(j));  // a cut line is skipped
  }
  return out;
}

}  // namespace

RunHistory::Series RunHistory::series(const std::string& key) const {
  Series s;
  for (const auto& r : intervals) {
    auto it = r.find(key);
    if (it == r.end() || !it->is_number()) continue;
    s.value.push_back(it->get<double>());
    s.epoch.push_back(number_value(r, "epoch", 0.0));
    s.step.push_back(number_value(r, "global_step", 0.0));
  }
  return s;
}

RunHistory read_run_history(const std::string& run_dir) {
  const fs::path dir(run_dir);
  if (!fs::is_directory(dir)) fail(run_dir, " is not a folder (expected a run folder written by flatclr)");
  RunHistory h;
  h.run_dir = run_dir;
  bool found = false;
  if (fs::exists(dir / "config.json")) {
    std::ifstream in(dir / "config.json");
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail((dir / "config.json").string(), " is not a JSON object");
    h.config = std::move(j);
    found = true;
  }
  if (fs::exists(dir / "metrics.jsonl")) {
    h.epochs = read_jsonl(dir / "metrics.jsonl");
    found = true;
  }
  if (fs::exists(dir / "steps.jsonl")) {
    for (auto& r : read_jsonl(dir / "steps.jsonl")) {
      if (r.contains("event"))
        h.events.push_back(std::move(r));
      else if (r.contains("global_step"))
        h.intervals.push_back(std::move(r));
    }
    found = true;
  }
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.rfind("checkpoint_", 0) == 0 && name.size() > 8 && name.substr(name.size() - 8) == ".pth.tar")
      h.checkpoints.push_back(name);
  }
  std::sort(h.checkpoints.begin(), h.checkpoints.end());
  if (!found && h.checkpoints.empty()) {
    fail(run_dir,
         " holds no config.json, metrics.jsonl, steps.jsonl or checkpoint: not a flatclr run folder "
         "(expected results/<dataset>/<bs>_<Method>/<date>/)");
  }
  return h;
}

}  // namespace flatclr::report
