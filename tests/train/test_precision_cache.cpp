// The precision probe's cache (train/precision_cache.h): a miss, a hit, stale entries (too old, dated in the
// future, another format), corrupt files (not JSON, cut, wrong types) reported with the file's name and never
// thrown, and stores that keep the other configurations' entries and replace a corrupt file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "flatclr/train/precision_cache.h"

using namespace flatclr::train;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kDay = 86400;

fs::path fresh_cache(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("flatclr_cache_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir / "precision-probe.json";
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

StepTimes times(double fp32, double bf16, int64_t at = kNow) {
  StepTimes t;
  t.fp32_seconds = fp32;
  t.bf16_seconds = bf16;
  t.batch = 32;
  t.measured_at = at;
  return t;
}

}  // namespace

TEST(PrecisionCache, MissThenHitThenOtherKeysKept) {
  const auto path = fresh_cache("hit").string();
  EXPECT_EQ(lookup_step_times(path, "a", kNow).status, CacheStatus::kMiss);  // no file
  EXPECT_EQ(store_step_times(path, "a", times(0.4, 0.2)), "");
  auto r = lookup_step_times(path, "a", kNow + kDay);
  ASSERT_EQ(r.status, CacheStatus::kHit) << r.why;
  EXPECT_DOUBLE_EQ(r.times.fp32_seconds, 0.4);
  EXPECT_DOUBLE_EQ(r.times.bf16_seconds, 0.2);
  EXPECT_EQ(r.times.batch, 32);
  EXPECT_EQ(r.times.measured_at, kNow);
  EXPECT_EQ(lookup_step_times(path, "b", kNow).status, CacheStatus::kMiss);  // another configuration
  EXPECT_EQ(store_step_times(path, "b", times(0.3, 0.5)), "");
  EXPECT_EQ(lookup_step_times(path, "a", kNow).status, CacheStatus::kHit);  // kept beside b
  EXPECT_DOUBLE_EQ(lookup_step_times(path, "b", kNow).times.bf16_seconds, 0.5);
  EXPECT_EQ(store_step_times(path, "a", times(0.5, 0.25)), "");  // replaced
  EXPECT_DOUBLE_EQ(lookup_step_times(path, "a", kNow).times.fp32_seconds, 0.5);
  // The file is what the header documents.
  const auto j = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(j["format"], kProbeCacheFormat);
  EXPECT_EQ(j["entries"].size(), 2u);
  EXPECT_EQ(j["entries"]["b"]["probe_batch"], 32);
}

TEST(PrecisionCache, DisabledWithoutAPath) {
  EXPECT_EQ(lookup_step_times("", "a", kNow).status, CacheStatus::kDisabled);
  EXPECT_EQ(store_step_times("", "a", times(1, 1)), "");
}

TEST(PrecisionCache, StaleEntriesAreMeasuredAgain) {
  const auto path = fresh_cache("stale").string();
  store_step_times(path, "a", times(0.4, 0.2, kNow - kProbeCacheMaxAgeDays * kDay));
  auto r = lookup_step_times(path, "a", kNow);
  EXPECT_EQ(r.status, CacheStatus::kStale);
  EXPECT_NE(r.why.find(path), std::string::npos) << r.why;
  EXPECT_NE(r.why.find("30 days old"), std::string::npos) << r.why;
  EXPECT_EQ(lookup_step_times(path, "a", kNow - kDay).status, CacheStatus::kHit);  // 29 days old: fresh
  store_step_times(path, "a", times(0.4, 0.2, kNow + 2 * kDay));                   // a clock that went back
  r = lookup_step_times(path, "a", kNow);
  EXPECT_EQ(r.status, CacheStatus::kStale);
  EXPECT_NE(r.why.find("future"), std::string::npos) << r.why;
  write(path, R"({"format": 99, "entries": {"a": {}}})");
  r = lookup_step_times(path, "a", kNow);
  EXPECT_EQ(r.status, CacheStatus::kStale);
  EXPECT_NE(r.why.find("format 99"), std::string::npos) << r.why;
  // A store replaces another format's file with this one's.
  EXPECT_EQ(store_step_times(path, "a", times(0.4, 0.2)), "");
  EXPECT_EQ(lookup_step_times(path, "a", kNow).status, CacheStatus::kHit);
}

TEST(PrecisionCache, CorruptFilesAreReportedAndReplaced) {
  const auto path = fresh_cache("corrupt").string();
  const std::string good =
      R"({"format": 1, "entries": {"a": {"fp32_step_seconds": 0.4, "bf16_step_seconds": 0.2,)"
      R"( "probe_batch": 32, "measured_at": 1800000000}}})";
  for (const std::string& text :
       {std::string("not json at all"), good.substr(0, good.size() / 2), std::string("[1, 2]"),
        std::string(""), std::string(R"({"format": "1", "entries": {}})"),
        std::string(R"({"format": 1, "entries": []})"),
        std::string(
            R"({"format": 1, "entries": {"a": {"fp32_step_seconds": "fast", "bf16_step_seconds": 0.2,)"
            R"( "probe_batch": 32, "measured_at": 1800000000}}})"),
        std::string(R"({"format": 1, "entries": {"a": {"fp32_step_seconds": -1, "bf16_step_seconds": 0.2,)"
                    R"( "probe_batch": 32, "measured_at": 1800000000}}})"),
        std::string(R"({"format": 1, "entries": {"a": 5}})")}) {
    write(path, text);
    const auto r = lookup_step_times(path, "a", kNow);
    EXPECT_EQ(r.status, CacheStatus::kCorrupt) << text;
    EXPECT_NE(r.why.find(path), std::string::npos) << r.why;
    EXPECT_EQ(store_step_times(path, "a", times(0.4, 0.2)), "") << text;
    EXPECT_EQ(lookup_step_times(path, "a", kNow).status, CacheStatus::kHit) << text;
  }
  write(path, good);
  EXPECT_EQ(lookup_step_times(path, "a", kNow).status, CacheStatus::kHit);
}

TEST(PrecisionCache, AFileThatCannotBeWrittenIsAWarning) {
  // A folder that is a regular file: not even root can write below it.
  const auto dir = fresh_cache("unwritable").parent_path();
  write(dir / "file", "x");
  const std::string path = (dir / "file" / "precision-probe.json").string();
  const std::string warning = store_step_times(path, "a", times(0.4, 0.2));
  EXPECT_NE(warning.find("could not save"), std::string::npos) << warning;
  EXPECT_NE(warning.find(path), std::string::npos) << warning;
  EXPECT_EQ(lookup_step_times(path, "a", kNow).status, CacheStatus::kMiss);
}
