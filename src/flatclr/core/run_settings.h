// Where and how a job runs: device, CPU threads, seed and progress display, shared by pretraining and
// evaluation (the same command-line flags set both). Messages name the fields as run.<field> (core/error.h).
#pragma once

#include <cstdint>
#include <string>

#include "flatclr/core/progress.h"

namespace flatclr::core {

struct RunSettings {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N (core/device.h)
  bool disable_cuda = false;    // the CPU whatever device says
  int threads = 0;              // CPU threads; 0 = all cores
  int64_t seed = 42;            // model init, data order, augmentation, subsets
  ProgressMode progress = ProgressMode::kAuto;

  // UsageError naming the field and the value.
  void validate() const;
};

}  // namespace flatclr::core
