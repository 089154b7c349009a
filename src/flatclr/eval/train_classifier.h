// Trains a linear classifier on top of an encoder while the encoder sees augmented images (random crop
// with padding + flip): the paper code's linear evaluation (backbone frozen; here in eval mode, so its
// BatchNorm statistics do not move; the paper's code keeps it in train mode) and finetuning (every layer
// trainable, BatchNorm in train mode). The test split is evaluated after every epoch, per sample.
// Both splits are read through data/split_loader.h: an in-memory split is sliced, a streamed one is decoded
// again every epoch on the loader's threads, a few batches ahead (the augmentation is drawn per image from
// (seed, epoch, index), so the two give the same batches). A file that cannot be decoded is left out of its
// batch; the losses and accuracies count the images actually seen.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "flatclr/core/progress.h"
#include "flatclr/data/labelled_split.h"
#include "flatclr/data/split_loader.h"
#include "flatclr/eval/linear_probe.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

struct ClassifierData {
  std::shared_ptr<const data::LabelledSplit> train, test;  // same classes, same image size
};

struct ClassifierOptions {
  LinearProbeConfig probe;  // epochs, batch size, lr, optimizer, scheduler, wd, momentum, seed
  bool freeze_backbone = true;
  int64_t padding = 4;
  int64_t eval_batch_size = 512;
  core::ProgressMode progress = core::ProgressMode::kNone;
  data::SplitLoaderOptions loader;  // decoding threads and prefetch of streamed splits
};

// Leaves the model in eval mode. The returned ProbeResult has no weight/bias of the head.
ProbeResult train_classifier(models::ResNet& model, const ClassifierData& data,
                             const ClassifierOptions& options, const c10::Device& device,
                             const std::function<void(const EpochResult&)>& on_epoch = {});

}  // namespace flatclr::eval
