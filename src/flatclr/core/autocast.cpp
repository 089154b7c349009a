#include "flatclr/core/autocast.h"

#include <ATen/autocast_mode.h>

#include "flatclr/core/error.h"

namespace flatclr::core {

AutocastScope::AutocastScope(c10::DeviceType device_type, Precision precision) : device_type_(device_type) {
  FLATCLR_CHECK(precision != Precision::kAuto, "resolve the precision first");
  if (precision == Precision::kFp32) return;
  active_ = true;
  was_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::set_autocast_dtype(device_type_, compute_dtype(precision));
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_type_, was_enabled_);
  at::autocast::set_autocast_dtype(device_type_, previous_dtype_);
}

}  // namespace flatclr::core
