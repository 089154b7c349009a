// Resuming a run: the training state a checkpoint holds (encoder weights, optimizer state, fp16 loss scale)
// put back into the run's freshly built model, optimizer and scaler. A checkpoint is untrusted input (a file
// from anywhere, edited or damaged), so everything is checked before it is used; fuzz/fuzz_resume.cpp feeds
// this function damaged checkpoints. The schedule needs no state of its own: it follows the global step.
#pragma once

#include <torch/optim/optimizer.h>

#include <string>

#include "flatclr/io/checkpoint.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/grad_scaler.h"

namespace flatclr::train {

// UserError naming `path` when the checkpoint's model is not `model`'s architecture or its weights do not fit
// it (strictly: every key, every shape), or when its optimizer or scaler state does not fit (optim/
// optimizer_state.h, optim/grad_scaler.h). `scaler`: the run's loss scaler, nullptr unless the run is fp16 (a
// run resumed in another precision starts a fresh scaler).
void restore_training_state(const io::Checkpoint& ckpt, const std::string& path, models::ResNet& model,
                            torch::optim::Optimizer& optimizer, optim::GradScaler* scaler);

}  // namespace flatclr::train
