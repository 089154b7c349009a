// Dynamic loss scaling for fp16 training, with the semantics of PyTorch's torch.amp.GradScaler (LibTorch's
// C++ API has none): the loss is multiplied by `scale` before backward so that small fp16 gradients do not
// flush to zero; the gradients are divided by it again before the optimizer sees them. A step whose gradients
// hold an Inf or NaN (the scale was too large) makes no update and halves the scale (backoff_factor); after
// growth_interval steps in a row without one, the scale doubles (growth_factor). The arithmetic is ATen's own
// amp kernels (_amp_foreach_non_finite_check_and_unscale_, _amp_update_scale_), so nothing here syncs with
// the host: the caller reads found_inf when it wants.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include <vector>

namespace flatclr::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16, PyTorch's default
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  GradScaler(GradScalerOptions options, const c10::Device& device);

  // loss * scale (the loss to call backward on).
  at::Tensor scale(const at::Tensor& loss) const;
  // Divides the gradients of `parameters` by the scale in place; returns found_inf, a 1-element float tensor
  // on the device: 1 when any gradient holds an Inf or NaN, else 0. Parameters without a gradient are
  // skipped.
  at::Tensor unscale(const std::vector<at::Tensor>& parameters);
  // Backs off or grows the scale after a step whose unscale() returned found_inf.
  void update(const at::Tensor& found_inf);

  double scale_value() const;      // reads the device (a host sync)
  int64_t growth_tracker() const;  // steps since the last backoff or growth (a host sync)

  // PyTorch's GradScaler.state_dict() layout: {"scale": float, "growth_factor": float, "backoff_factor":
  // float, "growth_interval": int, "_growth_tracker": int}. load_state_dict() throws UserError on another.
  c10::IValue state_dict() const;
  void load_state_dict(const c10::IValue& state);

 private:
  GradScalerOptions options_;
  at::Tensor scale_;           // [1] float32
  at::Tensor growth_tracker_;  // [1] int32
};

}  // namespace flatclr::optim
