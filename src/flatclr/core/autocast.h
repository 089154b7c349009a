// Mixed precision for one region of code: while an AutocastScope lives, LibTorch's autocast runs the eligible
// operations on `device_type` (convolutions, matrix products) in the lower type of `precision`, as Python's
// `with torch.autocast(device_type, dtype)` does. It restores the previous state on exit and, on leaving the
// outermost scope, drops autocast's cache of lower-precision weight copies (which would otherwise keep stale
// copies after the optimizer updates the weights). fp32 makes the scope a no-op.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include "flatclr/core/precision.h"

namespace flatclr::core {

class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device_type, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_type_;
  bool active_ = false;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::kFloat;
};

}  // namespace flatclr::core
