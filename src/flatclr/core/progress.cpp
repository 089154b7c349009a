#include "flatclr/core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace flatclr::core {

ProgressMode resolve_progress_mode(ProgressMode mode) {
  if (mode != ProgressMode::kAuto) return mode;
  return ::isatty(STDERR_FILENO) ? ProgressMode::kBar : ProgressMode::kLines;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "-:--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

Progress::Progress(ProgressMode mode, std::string label, int64_t total_steps, int64_t images_per_step)
    : mode_(resolve_progress_mode(mode)),
      label_(std::move(label)),
      total_(total_steps),
      images_per_step_(images_per_step),
      start_(std::chrono::steady_clock::now()) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& stats) {
  if (mode_ == ProgressMode::kNone) return;
  const double t = elapsed_seconds();
  const double ips = t > 0 ? static_cast<double>(done * images_per_step_) / t : 0.0;
  const double eta = done > 0 ? t * static_cast<double>(total_ - done) / static_cast<double>(done) : -1.0;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.1f", ips);
  if (mode_ == ProgressMode::kLines) {
    std::cout << "progress | " << label_ << " | step " << done << "/" << total_ << " | img/s " << rate
              << " | eta " << format_duration(eta) << " | " << stats << std::endl;
    return;
  }
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? static_cast<int>(kWidth * done / total_) : kWidth;
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
  std::cerr << "\r\033[K" << label_ << " [" << bar << "] " << done << "/" << total_ << " " << rate
            << " img/s ETA " << format_duration(eta) << " " << stats << std::flush;
  drawn_ = true;
}

void Progress::finish() {
  if (mode_ == ProgressMode::kBar && drawn_) std::cerr << "\r\033[K" << std::flush;
  drawn_ = false;
}

}  // namespace flatclr::core
