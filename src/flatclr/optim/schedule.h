// The per-iteration learning-rate schedule of the reference (a LambdaLR stepped every iteration: linear
// warmup, then cosine to 1e-6) and the README's LR scaling rules (--learning_rate_scaling, see scale_lr).
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

namespace flatclr::optim {

struct LrSchedule {
  std::string kind = "cosine";  // cosine | constant
  double base_lr = 0.6;
  int64_t warmup_steps = 0;  // W
  int64_t total_steps = 1;   // T
  double final_lr = 1e-6;

  // Throws flatclr::UserError naming the bad field and value.
  void validate() const;
  // step: 0-based iteration counter (the number of optimizer steps already taken).
  double lr_at(int64_t step) const;
};

// scaling: none -> lr; linear -> lr * batch_size / 256; sqrt -> lr * sqrt(batch_size).
// Anything else, or batch_size <= 0, throws flatclr::UserError.
double scale_lr(double lr, const std::string& scaling, int64_t batch_size);

}  // namespace flatclr::optim
