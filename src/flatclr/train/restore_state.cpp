#include "flatclr/train/restore_state.h"

#include "flatclr/core/error.h"
#include "flatclr/optim/optimizer_state.h"

namespace flatclr::train {

void restore_training_state(const io::Checkpoint& ckpt, const std::string& path, models::ResNet& model,
                            torch::optim::Optimizer& optimizer, optim::GradScaler* scaler) {
  const std::string arch = core::name_of(model->options.arch);
  if (ckpt.model != arch) fail(path, " holds a ", ckpt.model, " model but ", Field{"model.arch"}, "=", arch);
  io::load_module_state_dict(*model, ckpt.model_state_dict, /*strict=*/true, path);
  optim::load_optimizer_state(optimizer, ckpt.optimizer);
  if (scaler && !ckpt.grad_scaler.isNone()) scaler->load_state_dict(ckpt.grad_scaler);
}

}  // namespace flatclr::train
