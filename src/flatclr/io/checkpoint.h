// Pretraining checkpoints: a torch.save file (written by io/torch_save.h, so that PyTorch's torch.load reads
// it with its default weights_only=True) holding the dict of the paper's checkpoints plus what resuming
// needs:
//   batch_size (int), epoch (int: epochs completed, also the number in the file name), model (arch str),
//   model_state_dict (torchvision-style keys + normalize.* + fc.linear_layers.net.*), optimizer (PyTorch
//   optimizer.state_dict() layout), scheduler (dict), global_step (int), config (JSON string of the run's
//   resolved configuration), flatclr_format (int, this layout's version), and, for an fp16 run only,
//   grad_scaler (PyTorch's GradScaler.state_dict() layout, optim/grad_scaler.h).
// The paper's code stores the *total* epochs in `epoch`; flatclr stores the epochs completed, which is what
// resuming needs. Files are written atomically (a temporary file, then a rename).
#pragma once

#include <ATen/core/ivalue.h>

#include <string>

#include "flatclr/io/state_dict.h"

namespace flatclr::io {

constexpr int64_t kCheckpointFormat = 1;

struct Checkpoint {
  int64_t epoch = 0;
  int64_t batch_size = 0;
  int64_t global_step = 0;
  std::string model;
  StateDict model_state_dict;
  c10::IValue optimizer;
  c10::IValue scheduler;
  std::string config_json;
  c10::IValue grad_scaler;  // None unless the run was fp16
};

// "checkpoint_0002.pth.tar"
std::string checkpoint_file_name(int64_t epoch);
// "checkpoint_step_00000123.pth.tar": a checkpoint taken after that many steps, inside an epoch (its
// `epoch` is the epochs completed before it). Evaluation lists only the epochs' checkpoints.
std::string step_checkpoint_file_name(int64_t global_step);

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// UserError naming the path when the file is missing, is not a torch.save archive, or lacks a field.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace flatclr::io
