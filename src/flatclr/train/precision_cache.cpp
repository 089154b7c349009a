#include "flatclr/train/precision_cache.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flatclr/core/atomic_file.h"

namespace flatclr::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The file's JSON, or why it is not usable. A missing file is an empty object.
bool read_cache(const std::string& path, json& out, std::string& why) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    out = json::object();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) {
    why = path + ": cannot be read";
    return false;
  }
  out = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object()) {
    why = path + ": not a JSON object (a cut or hand-edited file?)";
    return false;
  }
  return true;
}

bool positive_number(const json& j, const char* field) {
  const auto it = j.find(field);
  return it != j.end() && it->is_number() && std::isfinite(it->get<double>()) && it->get<double>() > 0;
}

}  // namespace

CacheLookup lookup_step_times(const std::string& path, const std::string& key, int64_t now) {
  CacheLookup r;
  if (path.empty()) {
    r.status = CacheStatus::kDisabled;
    return r;
  }
  json file;
  if (!read_cache(path, file, r.why)) {
    r.status = CacheStatus::kCorrupt;
    return r;
  }
  const auto format = file.find("format");
  const auto entries = file.find("entries");
  if (format == file.end() && entries == file.end()) return r;  // empty: a miss
  if (format == file.end() || !format->is_number_integer() || entries == file.end() ||
      !entries->is_object()) {
    r.status = CacheStatus::kCorrupt;
    r.why = path + ": not a precision-probe cache (no \"format\" number and \"entries\" object)";
    return r;
  }
  if (format->get<int64_t>() != kProbeCacheFormat) {
    r.status = CacheStatus::kStale;
    r.why = path + ": written in format " + std::to_string(format->get<int64_t>()) + ", this build reads " +
            std::to_string(kProbeCacheFormat);
    return r;
  }
  const auto e = entries->find(key);
  if (e == entries->end()) return r;
  if (!e->is_object() || !positive_number(*e, "fp32_step_seconds") ||
      !positive_number(*e, "bf16_step_seconds") || !positive_number(*e, "probe_batch") ||
      !positive_number(*e, "measured_at")) {
    r.status = CacheStatus::kCorrupt;
    r.why = path +
            ": the entry for this configuration lacks a positive fp32_step_seconds, bf16_step_seconds, "
            "probe_batch or measured_at";
    return r;
  }
  StepTimes t;
  t.fp32_seconds = (*e)["fp32_step_seconds"].get<double>();
  t.bf16_seconds = (*e)["bf16_step_seconds"].get<double>();
  t.batch = static_cast<int64_t>((*e)["probe_batch"].get<double>());
  t.measured_at = static_cast<int64_t>((*e)["measured_at"].get<double>());
  const int64_t age_days = (now - t.measured_at) / 86400;
  if (age_days >= kProbeCacheMaxAgeDays || t.measured_at > now + 86400) {
    r.status = CacheStatus::kStale;
    r.why =
        path + ": the measurement for this configuration is " +
        (t.measured_at > now ? std::string("dated in the future") : std::to_string(age_days) + " days old") +
        " (kept " + std::to_string(kProbeCacheMaxAgeDays) + " days)";
    return r;
  }
  r.status = CacheStatus::kHit;
  r.times = t;
  return r;
}

std::string store_step_times(const std::string& path, const std::string& key, const StepTimes& times) {
  if (path.empty()) return "";
  json file;
  std::string why;
  const bool usable = read_cache(path, file, why) && file.contains("entries") &&
                      file["entries"].is_object() && file.contains("format") &&
                      file["format"].is_number_integer() &&
                      file["format"].get<int64_t>() == kProbeCacheFormat;
  if (!usable) file = json::object();  // missing, corrupt or of another format: start afresh
  file["format"] = kProbeCacheFormat;
  json& e = file["entries"][key];
  e = json::object();
  e["fp32_step_seconds"] = times.fp32_seconds;
  e["bf16_step_seconds"] = times.bf16_seconds;
  e["probe_batch"] = times.batch;
  e["measured_at"] = times.measured_at;
  try {
    std::error_code ec;
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent, ec);
    core::write_file_atomic(path, file.dump(2) + "\n");
  } catch (const std::exception& ex) {
    return std::string("could not save the precision probe's result: ") + ex.what();
  }
  return "";
}

}  // namespace flatclr::train
