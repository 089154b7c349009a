// Channels-last (NHWC) memory layout for a model: every 4-D parameter and buffer (the convolution weights) is
// re-laid out in place, so that convolutions fed channels-last input stay channels-last end to end (oneDNN on
// a CPU and cuDNN's tensor-core kernels prefer it). Values, shapes and the parameters' identity are
// unchanged, so optimizers built before or after see the same tensors. Checkpoints are written in the
// standard layout (io/torch_save.h makes every tensor contiguous).
#pragma once

#include <torch/nn/module.h>

namespace flatclr::models {

void to_channels_last(torch::nn::Module& module);

}  // namespace flatclr::models
