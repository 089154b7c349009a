#include "flatclr/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::optim {

namespace {
constexpr double kPi = 3.14159265358979323846;  // == Python math.pi
}  // namespace

void LrSchedule::validate() const {
  if (!(base_lr >= 0)) fail("learning rate must be >= 0, got ", base_lr);
  if (!(final_lr >= 0)) fail("final learning rate must be >= 0, got ", final_lr);
  if (warmup_steps < 0)
    fail("warmup steps must be >= 0, got ", warmup_steps, " (check ", Field{"warmup_epochs"}, ")");
  if (total_steps < 1)
    fail("total steps must be >= 1, got ", total_steps, " (check ", Field{"epochs"}, " and the data size)");
}

double LrSchedule::lr_at(int64_t step) const {
  FLATCLR_CHECK(step >= 0, "negative step ", step);
  if (kind == ScheduleKind::kConstant) return base_lr;
  if (step < warmup_steps) return base_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  if (total_steps <= warmup_steps) return final_lr;
  const double progress = std::min(
      1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps));
  return final_lr + (base_lr - final_lr) * 0.5 * (1.0 + std::cos(kPi * progress));
}

double scale_lr(double lr, LrScaling scaling, int64_t batch_size) {
  if (batch_size <= 0) fail(Field{"batch_size"}, " must be > 0, got ", batch_size);
  switch (scaling) {
    case LrScaling::kNone:
      return lr;
    case LrScaling::kLinear:
      return lr * static_cast<double>(batch_size) / 256.0;
    case LrScaling::kSqrt:
      return lr * std::sqrt(static_cast<double>(batch_size));
  }
  throw InternalError("unknown LrScaling");
}

}  // namespace flatclr::optim
