// The CPU precision probe's cache (train/precision_probe.h): one JSON file per machine, holding for each
// configuration the step times that were measured, so that the next run with the same configuration decides
// without measuring again. The key names everything the step's speed depends on (CPU model, threads, model,
// width, image size, batch, layout, LibTorch version); an entry older than kProbeCacheMaxAgeDays is stale (a
// changed kernel, BIOS or neighbour load makes old timings doubtful), and so is one written by another format
// version. A file that cannot be read or parsed is reported, never fatal: the run measures again and rewrites
// it. Writes are atomic (core/atomic_file.h), read-modify-write, so runs with other configurations keep
// theirs.
//
//   {"format": 1, "entries": {"<key>": {"fp32_step_seconds": 0.40, "bf16_step_seconds": 0.21,
//                                       "probe_batch": 32, "measured_at": 1796000000}}}
#pragma once

#include <cstdint>
#include <string>

namespace flatclr::train {

inline constexpr int kProbeCacheFormat = 1;
inline constexpr int64_t kProbeCacheMaxAgeDays = 30;

// One configuration's measurement: the same training step timed in fp32 and in bf16.
struct StepTimes {
  double fp32_seconds = 0.0;  // the fastest of the timed steps in each precision (the least disturbed)
  double bf16_seconds = 0.0;
  int64_t batch = 0;        // images of the timed step (the run's own batch, or fewer: precision_probe.h)
  int64_t measured_at = 0;  // Unix seconds
};

enum class CacheStatus {
  kHit,       // a fresh entry: `times` holds it
  kMiss,      // no file, or no entry for the key
  kStale,     // an entry too old or of another format: measure again
  kCorrupt,   // the file cannot be read or parsed: `why` says what; measure again, the store rewrites it
  kDisabled,  // no cache path
};

struct CacheLookup {
  CacheStatus status = CacheStatus::kMiss;
  StepTimes times;  // kHit
  std::string why;  // kStale, kCorrupt: one line naming the file and what is wrong
};

// `path` "" is kDisabled. now: Unix seconds.
CacheLookup lookup_step_times(const std::string& path, const std::string& key, int64_t now);
// Adds or replaces the key's entry (a corrupt file is replaced by a fresh one). Returns "" or a one-line
// warning naming the file when it could not be written (never throws: a cache is an optimisation).
std::string store_step_times(const std::string& path, const std::string& key, const StepTimes& times);

}  // namespace flatclr::train
