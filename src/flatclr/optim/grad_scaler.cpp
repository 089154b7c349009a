#include "flatclr/optim/grad_scaler.h"

#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::optim {

GradScaler::GradScaler(GradScalerOptions options, const c10::Device& device)
    : options_(options),
      scale_(at::full({1}, options.init_scale, at::TensorOptions().dtype(at::kFloat).device(device))),
      growth_tracker_(at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(device))) {}

at::Tensor GradScaler::scale(const at::Tensor& loss) const { return loss * scale_.to(loss.dtype()); }

at::Tensor GradScaler::unscale(const std::vector<at::Tensor>& parameters) {
  // As PyTorch: the reciprocal in float64, then float32.
  const at::Tensor inv_scale = scale_.to(at::kDouble).reciprocal().to(at::kFloat);
  at::Tensor found_inf = at::zeros({1}, scale_.options());
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (!grads.empty()) at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale);
  return found_inf;
}

void GradScaler::update(const at::Tensor& found_inf) {
  // No .to(device) here: on a GPU a CPU found_inf would be a blocking copy inside the sync-free step.
  FLATCLR_CHECK(found_inf.device() == scale_.device(), "GradScaler::update: found_inf on ",
                found_inf.device(), ", the scale on ", scale_.device());
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf, options_.growth_factor, options_.backoff_factor,
                         options_.growth_interval);
}

double GradScaler::scale_value() const { return scale_.item<double>(); }

int64_t GradScaler::growth_tracker() const { return growth_tracker_.item<int64_t>(); }

c10::IValue GradScaler::state_dict() const {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("scale", scale_value());
  d.insert("growth_factor", options_.growth_factor);
  d.insert("backoff_factor", options_.backoff_factor);
  d.insert("growth_interval", options_.growth_interval);
  d.insert("_growth_tracker", growth_tracker());
  return d;
}

void GradScaler::load_state_dict(const c10::IValue& state) {
  if (!state.isGenericDict()) fail("the checkpoint's grad scaler state is not a dict");
  const auto d = state.toGenericDict();
  auto number = [&](const char* key) {
    auto it = d.find(key);
    if (it == d.end() || !(it->value().isDouble() || it->value().isInt())) {
      fail("the checkpoint's grad scaler state lacks a number '", key, "'");
    }
    const double v =
        it->value().isDouble() ? it->value().toDouble() : static_cast<double>(it->value().toInt());
    if (!std::isfinite(v) || v < 0 || v > 1e30) fail("the checkpoint's grad scaler '", key, "' is ", v);
    return v;
  };
  const double scale = number("scale"), interval = number("growth_interval"),
               tracker = number("_growth_tracker");
  if (!(scale > 0) || interval < 1 || interval > 1e9 || tracker > 1e9) {
    fail("the checkpoint's grad scaler state is out of range (scale ", scale, ", growth_interval ", interval,
         ", _growth_tracker ", tracker, ")");
  }
  // As PyTorch's GradScaler requires: a growth that grows and a backoff that shrinks (a backoff of 0 would
  // leave a scale of 0 after the first overflow, and every later loss multiplied by it).
  const double growth = number("growth_factor"), backoff = number("backoff_factor");
  if (!(growth > 1) || !(backoff > 0 && backoff < 1)) {
    fail("the checkpoint's grad scaler state is out of range (growth_factor ", growth, ", expected > 1; ",
         "backoff_factor ", backoff, ", expected in (0, 1))");
  }
  options_.growth_factor = growth;
  options_.backoff_factor = backoff;
  options_.growth_interval = static_cast<int64_t>(interval);
  scale_.fill_(scale);
  growth_tracker_.fill_(static_cast<int64_t>(tracker));
}

}  // namespace flatclr::optim
