// What a user sees while a job runs: on a terminal a one-line progress bar on stderr with throughput and
// ETA, redrawn in place; otherwise (a log file, CI) plain parseable lines on stdout every few steps:
//   progress | epoch 1/2 | step 10/97 | img/s 123.4 | eta 0:00:12 | loss 5.1234
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "flatclr/core/choice.h"

namespace flatclr::core {

// kAuto: a bar when stderr is a terminal, else lines.
enum class ProgressMode { kAuto, kBar, kLines, kNone };
inline constexpr Choice<ProgressMode> kProgressModes[] = {{ProgressMode::kAuto, "auto"},
                                                          {ProgressMode::kBar, "bar"},
                                                          {ProgressMode::kLines, "lines"},
                                                          {ProgressMode::kNone, "none"}};
constexpr const auto& choices_of(ProgressMode) { return kProgressModes; }

// kAuto -> kBar or kLines for this process's stderr; any other mode as it is.
ProgressMode resolve_progress_mode(ProgressMode mode);

// h:mm:ss
std::string format_duration(double seconds);

// v with `digits` decimals ("%.*f"): the numbers of console lines.
std::string fixed(double v, int digits);

class Progress {
 public:
  Progress(ProgressMode mode, std::string label, int64_t total_steps, int64_t images_per_step);
  // steps_done in [0, total]; `stats` is appended as is (e.g. "loss 5.1234").
  void update(int64_t steps_done, const std::string& stats);
  // Clears the bar line (bar mode) so the next print starts on a clean line.
  void finish();
  double elapsed_seconds() const;

 private:
  ProgressMode mode_;
  std::string label_;
  int64_t total_;
  int64_t images_per_step_;
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
};

}  // namespace flatclr::core
