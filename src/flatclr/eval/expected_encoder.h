// The encoder an evaluation's command line describes, checked against the one a checkpoint holds. The paper's
// code builds the evaluated network from its pretraining flags (--model, ...) and loads the checkpoint into
// it, so its users repeat those flags when they evaluate. flatclr reads the architecture off the checkpoint's
// own state dict (eval/encoder_loader.h); a field given here that agrees with it changes nothing, one that
// contradicts it is an error naming both values. For a checkpoint that stores no architecture name (the
// paper's code before it saved `model`), the state dict's shapes are the architecture: a network built from
// another --model could not take those weights in the paper's code either.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "flatclr/models/resnet.h"

namespace flatclr::eval {

// Each field: the value given, or nothing (not given: not compared). Messages name them as the pretraining
// fields they repeat (`model.arch`, `model.width_multiplier`, `model.head.mode`, ...).
struct ExpectedEncoder {
  std::optional<models::Arch> arch;
  std::optional<double> width_multiplier;
  std::optional<models::HeadMode> head_mode;
  std::optional<int64_t> head_num_layers;  // nonlinear head: its Linear layers
  std::optional<int64_t> head_out_dim;     // z's dimension

  bool empty() const { return !arch && !width_multiplier && !head_mode && !head_num_layers && !head_out_dim; }
};

// UserError naming the field, the value given and the value `found` in checkpoint `what`, for the first
// field that contradicts it. `found`: the options read off the checkpoint (infer_resnet_options).
void check_expected_encoder(const ExpectedEncoder& expected, const models::ResNetOptions& found,
                            const std::string& what);

}  // namespace flatclr::eval
