// Rebuilds a pretrained encoder from a checkpoint file, flatclr's or the paper's (keys with or without
// DataParallel's `module.` prefix):
// the architecture is read off the state dict's own shapes (stem kernel, stem width, blocks per layer,
// Bottleneck or BasicBlock, head layers), so no flag has to repeat how the encoder was built.
#pragma once

#include <string>

#include "flatclr/io/state_dict.h"
#include "flatclr/models/resnet.h"

namespace flatclr::eval {

// The ResNet options that produce exactly the keys and shapes of `state` (keys without "module.").
// UserError naming `what` when the dict is not a ResNet encoder of ours or of the paper.
models::ResNetOptions infer_resnet_options(const io::StateDict& state, const std::string& what);

struct LoadedEncoder {
  models::ResNet model{nullptr};
  std::string source;  // the checkpoint path, or "random init"
  // Epochs of pretraining: stored by flatclr; for the paper's checkpoints, from the file name and the stored
  // total (see encoder_loader.cpp); -1 when unknown.
  int64_t pretrain_epoch = -1;
  std::string pretrain_dataset;  // from the stored config, "" when unknown
  std::string method;            // "simclr" | "flatclr" from the stored config, "" when unknown
};

// Loads a checkpoint written by flatclr or by the paper's PyTorch code.
LoadedEncoder load_encoder(const std::string& path);

// The same architecture as `like`, freshly initialised with `seed` (the random-encoder baseline).
LoadedEncoder random_encoder(const models::ResNetOptions& like, uint64_t seed);

}  // namespace flatclr::eval
