// Trains a linear classifier on top of an encoder while the encoder sees augmented images (random crop
// with padding + flip): the paper code's linear evaluation (backbone frozen; here in eval mode, so its
// BatchNorm statistics do not move; the paper's code keeps it in train mode) and finetuning (every layer
// trainable, BatchNorm in train mode). The test split is evaluated after every epoch, per sample.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "flatclr/core/progress.h"
#include "flatclr/eval/linear_probe.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

struct ClassifierData {
  at::Tensor train_images;  // [N, 3, H, W] uint8 (host or device)
  at::Tensor train_labels;  // [N] int64
  at::Tensor test_images;   // [M, 3, H, W] uint8
  at::Tensor test_labels;   // [M] int64
  int64_t num_classes = 0;
};

struct ClassifierOptions {
  LinearProbeConfig probe;  // epochs, batch size, lr, optimizer, scheduler, wd, momentum, seed
  bool freeze_backbone = true;
  int64_t padding = 4;
  int64_t eval_batch_size = 512;
  core::ProgressMode progress = core::ProgressMode::kNone;
};

// Leaves the model in eval mode. The returned ProbeResult has no weight/bias of the head.
ProbeResult train_classifier(models::ResNet& model, const ClassifierData& data,
                             const ClassifierOptions& options, const c10::Device& device,
                             const std::function<void(const EpochResult&)>& on_epoch = {});

}  // namespace flatclr::eval
