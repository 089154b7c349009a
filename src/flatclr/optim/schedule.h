// The per-iteration learning-rate schedule of the reference (a LambdaLR stepped every iteration: linear
// warmup, then cosine to 1e-6) and the README's LR scaling rules (see scale_lr).
//   cosine:   step < W: lr = base * step / W                 (step 0 has lr 0)
//             else:     lr = final + (base - final) * 0.5 * (1 + cos(pi * (step - W) / (T - W)))
//             with T = total_steps, W = warmup_steps, final = 1e-6. The cosine progress is clamped to
//             [0, 1] (the reference never goes past T - 1, where it would start rising again), and
//             T == W gives final for every step >= W (the reference divides by zero there). W > T is
//             allowed (a short smoke run with the default 10 warmup epochs): the run is all warmup, as in
//             the reference.
//   constant: lr = base for every step (the reference's MultiStepLR with its milestone at 10 T: no warmup).
#pragma once

#include <cstdint>
#include <string>

#include "flatclr/core/choice.h"

namespace flatclr::optim {

enum class ScheduleKind { kCosine, kConstant };
inline constexpr core::Choice<ScheduleKind> kScheduleKinds[] = {{ScheduleKind::kCosine, "cosine"},
                                                                {ScheduleKind::kConstant, "constant"}};
constexpr const auto& choices_of(ScheduleKind) { return kScheduleKinds; }

// How the base lr follows the batch size: none -> lr; linear -> lr * batch_size / 256 (SimCLR's rule);
// sqrt -> lr * sqrt(batch_size) (SimCLR's rule for LARS at large batch).
enum class LrScaling { kNone, kLinear, kSqrt };
inline constexpr core::Choice<LrScaling> kLrScalings[] = {
    {LrScaling::kNone, "none"}, {LrScaling::kLinear, "linear"}, {LrScaling::kSqrt, "sqrt"}};
constexpr const auto& choices_of(LrScaling) { return kLrScalings; }

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::kCosine;
  double base_lr = 0.6;
  int64_t warmup_steps = 0;  // W
  int64_t total_steps = 1;   // T
  double final_lr = 1e-6;

  // Throws flatclr::UserError naming the bad field and value.
  void validate() const;
  // step: 0-based iteration counter (the number of optimizer steps already taken).
  double lr_at(int64_t step) const;
};

// The lr after `scaling` (see LrScaling). batch_size <= 0 throws flatclr::UserError.
double scale_lr(double lr, LrScaling scaling, int64_t batch_size);

}  // namespace flatclr::optim
